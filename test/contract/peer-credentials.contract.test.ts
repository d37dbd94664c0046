// PeerCredentials, both implementations: an fd that is not a connected socket fails with
// SysError(ENOTSOCK, 'getsockopt(SO_PEERCRED)') in both; the Linux one, on a real unix stream
// connection inside this process, reports this process's pid/uid/gid for both ends (the kernel
// records the connecting and the listening process's credentials), and the memory one reports
// what the test set per fd.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { socketFd } from '../../src/daemon/admin-server.js';
import { SysError } from '../../src/platform/errors.js';
import { LinuxPeerCredentials } from '../../src/platform/linux/index.js';
import { MemoryPeerCredentials } from '../../src/platform/memory/index.js';
import type { PeerCredentials } from '../../src/platform/platform.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-peercred-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['linux', () => new LinuxPeerCredentials()],
  ['memory', () => new MemoryPeerCredentials()],
] as const)('PeerCredentials contract (%s)', (_name, make: () => PeerCredentials) => {
  it('fails with SysError ENOTSOCK on an fd that is not a socket', () => {
    const file = path.join(dir, `plain-${_name}`);
    fs.writeFileSync(file, 'x');
    const fd = fs.openSync(file, 'r');
    try {
      let caught: unknown;
      try {
        make().of(fd);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SysError);
      expect(caught).toMatchObject({ code: 'ENOTSOCK', syscall: 'getsockopt(SO_PEERCRED)' });
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('LinuxPeerCredentials on a real unix connection (SO_PEERCRED)', () => {
  it("reports this process's pid, uid and gid on the accepting and the connecting side", async () => {
    const sockPath = path.join(dir, 'peer.sock');
    const creds = new LinuxPeerCredentials();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sockPath, resolve);
    });
    try {
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
      const client = net.connect(sockPath);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      const serverSide = await accepted;
      try {
        const me = { pid: process.pid, uid: process.geteuid!(), gid: process.getegid!() };
        const acceptedFd = socketFd(serverSide);
        const clientFd = socketFd(client);
        expect(acceptedFd).toEqual(expect.any(Number));
        expect(clientFd).toEqual(expect.any(Number));
        expect(creds.of(acceptedFd!)).toEqual(me);
        expect(creds.of(clientFd!)).toEqual(me);
      } finally {
        client.destroy();
        serverSide.destroy();
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
  it('rejects an fd that is not a non-negative integer with a TypeError', () => {
    const creds = new LinuxPeerCredentials();
    expect(() => creds.of(-1)).toThrow(TypeError);
    expect(() => creds.of(1.5)).toThrow(TypeError);
  });
});

describe('MemoryPeerCredentials', () => {
  it('reports the peer set for each fd, falling back to the any-fd peer, and records what was asked', () => {
    const m = new MemoryPeerCredentials({ pid: 1, uid: 0, gid: 0 });
    m.set(7, { pid: 99, uid: 65534, gid: 65534 });
    expect(m.of(7)).toEqual({ pid: 99, uid: 65534, gid: 65534 });
    expect(m.of(8)).toEqual({ pid: 1, uid: 0, gid: 0 });
    m.setAnyFd(undefined);
    expect(() => m.of(8)).toThrow(SysError);
    expect(m.of(7).uid).toBe(65534);
    expect(m.asked).toEqual([7, 8, 8, 7]);
  });
});
