// The server's side of the hand-over to a data path (native-transmission.ts), with a recording
// NbdDataPath instead of the addon (the native threads themselves are tested in
// test/integration/nbd-server-native.test.ts): what it is handed (the socket's descriptor, the
// export's two, the size, and the request bytes that arrived with the handshake), how the
// data path's end and release reach the server's sessions and counters, and what a revocation
// and a data path that refuses the connection do.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../scripts/lib/wait.js';
import type { NbdDataPath, NbdServedConnection, NbdServeEvents, NbdServeSpec, NbdTransmissionCounts } from '../../../src/platform/platform.js';
import { negotiateClient } from '../../../src/replication/nbd/client-handshake.js';
import { ExportTokenKey } from '../../../src/replication/nbd/export-token.js';
import * as P from '../../../src/replication/nbd/protocol.js';
import { NbdServer } from '../../../src/replication/nbd/server.js';

const zero = (): NbdTransmissionCounts => ({ reads: 0, writes: 0, fuaWrites: 0, flushes: 0, trims: 0, writeZeroes: 0, invalidRequests: 0, ioErrors: 0, bytesRead: 0, bytesWritten: 0 });

interface Served {
  spec: NbdServeSpec;
  events: NbdServeEvents;
  counts: NbdTransmissionCounts;
  stopped: number;
}

/** Records each connection it is handed; the test plays the native threads' part. */
class RecordingDataPath implements NbdDataPath {
  readonly served: Served[] = [];
  refuse: Error | undefined;
  serve(spec: NbdServeSpec, events: NbdServeEvents): NbdServedConnection {
    if (this.refuse) throw this.refuse;
    const s: Served = { spec, events, counts: zero(), stopped: 0 };
    this.served.push(s);
    return { counters: () => ({ ...s.counts }), stop: () => void s.stopped++ };
  }
}

const secret = randomBytes(32);
const key = new ExportTokenKey(secret);
const SIZE = 4 * 1024 * 1024;
let dir: string;
let file: string;
let server: NbdServer;
let port: number;
const dataPath = new RecordingDataPath();
const sockets: Socket[] = [];

function dial(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    sockets.push(s);
    s.once('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-nbd-handover-'));
  file = join(dir, 'replica.img');
  writeFileSync(file, '');
  truncateSync(file, SIZE);
  server = new NbdServer({ clusterSecret: secret, deviceSize: async () => 0, dataPath });
  ({ port } = await server.listen('127.0.0.1', 0));
  await server.exportMirror({ mirror: 'm', path: file, generation: 1, primary: 'n1' });
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  // Every connection the test left running ends, as the native threads would report it.
  for (const s of dataPath.served.splice(0)) {
    s.events.onEnd({ kind: 'closed' });
    s.events.onReleased({ ...s.counts });
  }
  dataPath.refuse = undefined;
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hand-over to the data path', () => {
  it('hands over the descriptors, the size and the request bytes sent with the handshake', async () => {
    const before = dataPath.served.length;
    const s = await dial();
    const pipelined = P.encodeRequest({ flags: 0, type: P.NBD_CMD_READ, cookie: 7n, offset: 0n, length: 4096 });
    s.write(Buffer.concat([P.encodeClientFlags(P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES), P.encodeOption(P.NBD_OPT_EXPORT_NAME, Buffer.from(key.exportName({ mirror: 'm', generation: 1, clientSystem: 'n1' }))), pipelined]));
    await waitFor(() => dataPath.served.length === before + 1, { deadlineMs: 4000, intervalMs: 10, what: 'the hand-over' });
    const { spec } = dataPath.served.at(-1)!;
    expect(spec.sizeBytes).toBe(SIZE);
    expect(spec.leftover.equals(pipelined)).toBe(true);
    for (const fd of [spec.socketFd, spec.fd, spec.dsyncFd]) expect(Number.isInteger(fd) && fd > 2).toBe(true);
    expect(new Set([spec.socketFd, spec.fd, spec.dsyncFd]).size).toBe(3);
    // The server let go of its socket: the client sees it closed, though the data path never ended it.
    s.resume();
    await new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
  });

  it('a session lasts until the data path reports its end; counts are live until the release, then in the totals', async () => {
    const base = (await server.counters()).transmission.bytesWritten;
    const s = await dial();
    await negotiateClient(s, { exportName: key.exportName({ mirror: 'm', generation: 1, clientSystem: 'n1' }) });
    await waitFor(() => dataPath.served.length === 1, { deadlineMs: 4000, intervalMs: 10, what: 'the hand-over' });
    expect(server.counters().activeSessions).toBe(1);
    const served = dataPath.served.at(-1)!;
    served.counts.writes = 3;
    served.counts.bytesWritten = 12288;
    expect(server.counters().transmission.bytesWritten).toBe(base + 12288);
    served.events.onEnd({ kind: 'disconnect' });
    expect(server.counters().activeSessions).toBe(0);
    served.counts.bytesWritten = 16384; // a request still in the kernel completed meanwhile
    expect(server.counters().transmission.bytesWritten).toBe(base + 16384);
    served.events.onReleased({ ...served.counts });
    served.counts.bytesWritten = 1 << 30; // no longer read
    expect(server.counters().transmission.bytesWritten).toBe(base + 16384);
  });

  it('a protocol error reported by the data path is counted as one', async () => {
    const before = server.counters().protocolErrors;
    const s = await dial();
    await negotiateClient(s, { exportName: key.exportName({ mirror: 'm', generation: 1, clientSystem: 'n1' }) });
    await waitFor(() => dataPath.served.length === 1, { deadlineMs: 4000, intervalMs: 10, what: 'the hand-over' });
    expect(server.counters().activeSessions).toBe(1);
    dataPath.served.at(-1)!.events.onEnd({ kind: 'protocol-error', message: 'request with bad magic 0x0' });
    expect(server.counters().protocolErrors).toBe(before + 1);
    expect(server.counters().activeSessions).toBe(0);
  });

  it('a new epoch stops the stale connection on the data path and ends its session at once', async () => {
    const s = await dial();
    await negotiateClient(s, { exportName: key.exportName({ mirror: 'm', generation: 1, clientSystem: 'n1' }) });
    await waitFor(() => dataPath.served.length === 1, { deadlineMs: 4000, intervalMs: 10, what: 'the hand-over' });
    expect(server.counters().activeSessions).toBe(1);
    const served = dataPath.served.at(-1)!;
    const revoked = server.counters().revokedSessions;
    await server.exportMirror({ mirror: 'm', path: file, generation: 2, primary: 'n1' });
    expect(served.stopped).toBe(1);
    expect(server.counters()).toMatchObject({ activeSessions: 0, revokedSessions: revoked + 1 });
    // Its end, reported by the data path later, changes nothing.
    served.events.onEnd({ kind: 'closed' });
    expect(server.counters().revokedSessions).toBe(revoked + 1);
    await server.exportMirror({ mirror: 'm', path: file, generation: 1, primary: 'n1' }).catch(() => undefined);
  });

  it('a data path that refuses the connection ends the session and closes the client', async () => {
    dataPath.refuse = new Error('EMFILE: too many open files, fcntl(F_DUPFD_CLOEXEC socket)');
    const s = await dial();
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    await negotiateClient(s, { exportName: key.exportName({ mirror: 'm', generation: 2, clientSystem: 'n1' }) });
    s.resume();
    await closed;
    expect(server.counters().activeSessions).toBe(0);
  });
});
