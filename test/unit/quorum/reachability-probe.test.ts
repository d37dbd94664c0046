// The TCP reachability probe on loopback: a listener counts reachable, a closed port does not,
// every host of a round is reported with the round's start time.
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostLabel, ReachabilityProbe, tcpConnectProbe } from '../../../src/cluster/quorum/reachability-probe.js';

describe('tcpConnectProbe', () => {
  let server: net.Server;
  let port = 0;
  beforeAll(async () => {
    server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a listening port is reachable, a closed one is not', async () => {
    expect(await tcpConnectProbe({ label: 'l', host: '127.0.0.1', port }, 2_000)).toBe(true);
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await tcpConnectProbe({ label: 'c', host: '127.0.0.1', port: closedPort }, 2_000)).toBe(false);
  });

  it('a round reports each host with the round start time (a slow host does not hold the others)', async () => {
    const reports: Array<[string, boolean, number]> = [];
    let hung: ((v: boolean) => void) | undefined;
    const probe = new ReachabilityProbe(
      [{ label: 'up', host: '127.0.0.1', port }, { label: 'hang', host: 'x', port: 1 }],
      50,
      (l, ok, t) => reports.push([l, ok, t]),
      (t, timeoutMs) => (t.label === 'hang' ? new Promise((r) => ((hung = r), setTimeout(() => r(false), timeoutMs))) : tcpConnectProbe(t, timeoutMs)),
    );
    probe.round(42);
    await new Promise((r) => setTimeout(r, 300));
    expect(hung).toBeDefined();
    expect(reports.sort()).toEqual([['hang', false, 42], ['up', true, 42]]);
    probe.stop();
  });

  it('labels IPv6 literals with brackets', () => {
    expect(hostLabel({ host: 'fd00::9', port: 7 })).toBe('[fd00::9]:7');
    expect(hostLabel({ host: '10.0.0.9', port: 7 })).toBe('10.0.0.9:7');
  });
});
