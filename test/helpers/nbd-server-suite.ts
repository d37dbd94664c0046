// The NBD server's behaviour as a client sees it, shared by every way it runs: the client
// handshake against the server, and the transmission phase driven by the userspace
// transmission client — data round trips, FUA, flush, trim and write-zeroes, out-of-range
// requests, soft disconnect, a bad request, and fencing (a stale primary refused, and a
// connected one cut when the mirror's generation moves on). The unit tests run it with the
// TypeScript transmission (in-process and on the worker thread), the integration tests with
// the native data path: a client must not be able to tell them apart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdRefusedError, negotiateClient } from '../../src/replication/nbd/client-handshake.js';
import { ExportTokenKey } from '../../src/replication/nbd/export-token.js';
import * as P from '../../src/replication/nbd/protocol.js';
import { EXPORT_TRANSMISSION_FLAGS, NbdServer } from '../../src/replication/nbd/server.js';
import { NbdServerThread } from '../../src/replication/nbd/server-thread.js';
import { NbdRequestError, NbdTransmissionClient } from '../../src/replication/nbd/transmission-client.js';

const secret = randomBytes(32);
const key = new ExportTokenKey(secret);
const SIZE = 8 * 1024 * 1024;
let dir: string;
let file: string;
let server: NbdServer | NbdServerThread;
let port: number;

const nameFor = (generation: number, clientSystem = 'node1', mirror = 'data') => key.exportName({ mirror, generation, clientSystem });

function dial(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

async function open(generation = 3, clientSystem = 'node1'): Promise<NbdTransmissionClient> {
  const s = await dial();
  await negotiateClient(s, { exportName: nameFor(generation, clientSystem) });
  return new NbdTransmissionClient(s);
}

export type ServerFactory = (options: { clusterSecret: Buffer; deviceSize: (p: string) => Promise<number> }) => NbdServer | NbdServerThread;

/** Registers the suite under `label`; `make` builds the server under test. */
export function nbdServerSuite(label: string, make: ServerFactory): void {
describe(`NBD server (${label})`, () => {
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-nbd-'));
  file = join(dir, 'replica.img');
  writeFileSync(file, '');
  truncateSync(file, SIZE);
  const options = { clusterSecret: secret, deviceSize: async (p: string) => Promise.reject(new Error(`no block device expected: ${p}`)) };
  server = make(options);
  ({ port } = await server.listen('127.0.0.1', 0));
  await server.exportMirror({ mirror: 'data', path: file, generation: 3, primary: 'node1' });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('client handshake against the server', () => {
  it('NBD_OPT_GO reports size, flags and block size, and leaves the socket paused with no bytes pending', async () => {
    const s = await dial();
    const before = s.listenerCount('data');
    const r = await negotiateClient(s, { exportName: nameFor(3) });
    expect(r).toEqual({
      sizeBytes: SIZE,
      transmissionFlags: EXPORT_TRANSMISSION_FLAGS,
      blockSize: { minimum: 1, preferred: 4096, maximum: 32 * 1024 * 1024 },
      via: 'NBD_OPT_GO',
    });
    expect(s.isPaused()).toBe(true);
    expect(s.listenerCount('data')).toBe(before);
    expect(s.readableLength).toBe(0);
    s.destroy();
  });
  it('NBD_OPT_EXPORT_NAME works too', async () => {
    const s = await dial();
    const r = await negotiateClient(s, { exportName: nameFor(3), forceExportName: true });
    expect(r).toMatchObject({ sizeBytes: SIZE, transmissionFlags: EXPORT_TRANSMISSION_FLAGS, via: 'NBD_OPT_EXPORT_NAME' });
    const c = new NbdTransmissionClient(s);
    await c.write(0, Buffer.alloc(512, 7));
    expect((await c.read(0, 512)).equals(Buffer.alloc(512, 7))).toBe(true);
    await c.disconnect();
  });
  it('a stale generation is refused with NBD_REP_ERR_POLICY and counted', async () => {
    const before = (await server.counters()).refused['stale-generation'];
    const s = await dial();
    const err = await negotiateClient(s, { exportName: nameFor(2) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NbdRefusedError);
    expect((err as NbdRefusedError).replyType).toBe(P.NBD_REP_ERR_POLICY);
    expect((err as NbdRefusedError).message).toMatch(/stale mirror generation 2; the current generation is 3/);
    expect((await server.counters()).refused['stale-generation']).toBe(before + 1);
  });
  it('a refused EXPORT_NAME ends in a closed connection, counted as refused', async () => {
    const before = (await server.counters()).refused['not-primary'];
    const s = await dial();
    await expect(negotiateClient(s, { exportName: nameFor(3, 'node2'), forceExportName: true })).rejects.toThrow(/closed/);
    expect((await server.counters()).refused['not-primary']).toBe(before + 1);
  });
  it('times out against a server that never speaks', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const s = connect({ host: '127.0.0.1', port: (silent.address() as { port: number }).port });
    await expect(negotiateClient(s, { exportName: 'x', timeoutMs: 200 })).rejects.toThrow(/timed out after 200 ms/);
    expect(s.destroyed).toBe(true);
    await new Promise<void>((r) => silent.close(() => r()));
  });
});

describe('transmission', () => {
  it('writes and reads back data, with concurrent requests in flight', async () => {
    const c = await open();
    const blocks = Array.from({ length: 32 }, () => randomBytes(64 * 1024));
    await Promise.all(blocks.map((b, i) => c.write(i * 64 * 1024, b, { fua: i % 2 === 0 })));
    const back = await Promise.all(blocks.map((_, i) => c.read(i * 64 * 1024, 64 * 1024)));
    back.forEach((b, i) => expect(b.equals(blocks[i]!)).toBe(true));
    await c.flush();
    // Visible in the file itself once flushed.
    expect(readFileSync(file).subarray(64 * 1024, 128 * 1024).equals(blocks[1]!)).toBe(true);
    await c.disconnect();
    expect((await server.counters()).transmission.fuaWrites).toBeGreaterThanOrEqual(16);
  });
  it('write-zeroes and trim leave zeroes', async () => {
    const c = await open();
    await c.write(1 << 20, Buffer.alloc(3 << 20, 0xee));
    await c.writeZeroes(1 << 20, 1 << 20, { fua: true });
    await c.trim(2 << 20, 1 << 20);
    expect((await c.read(1 << 20, 2 << 20)).equals(Buffer.alloc(2 << 20))).toBe(true);
    expect((await c.read(3 << 20, 4096)).equals(Buffer.alloc(4096, 0xee))).toBe(true);
    await c.disconnect();
  });
  it('out-of-range requests fail with EINVAL (read, trim) or ENOSPC (write), and the connection goes on', async () => {
    const c = await open();
    await expect(c.read(SIZE - 512, 1024)).rejects.toMatchObject({ nbdErrno: P.NBD_EINVAL });
    await expect(c.write(SIZE, Buffer.alloc(512))).rejects.toMatchObject({ nbdErrno: P.NBD_ENOSPC });
    await expect(c.trim(SIZE - 1, 2)).rejects.toBeInstanceOf(NbdRequestError);
    expect((await c.read(SIZE - 512, 512)).length).toBe(512);
    await c.disconnect();
  });
  it('a request with a bad magic closes the connection', async () => {
    const s = await dial();
    await negotiateClient(s, { exportName: nameFor(3) });
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.resume();
    s.write(Buffer.alloc(28));
    await closed;
    expect((await server.counters()).protocolErrors).toBeGreaterThanOrEqual(1);
  });
  it('a new generation cuts the old primary\'s session and only the new primary gets in', async () => {
    const old = await open(3, 'node1');
    await old.write(0, Buffer.alloc(4096, 1));
    await server.exportMirror({ mirror: 'data', path: file, generation: 4, primary: 'node2' });
    await expect(old.write(0, Buffer.alloc(4096, 2))).rejects.toThrow(/closed/);
    expect((await server.counters()).revokedSessions).toBeGreaterThanOrEqual(1);
    await expect(open(3, 'node1')).rejects.toMatchObject({ replyType: P.NBD_REP_ERR_POLICY });
    const fresh = await open(4, 'node2');
    expect((await fresh.read(0, 4096)).equals(Buffer.alloc(4096, 1))).toBe(true);
    await fresh.disconnect();
    await expect(server.exportMirror({ mirror: 'data', path: file, generation: 3, primary: 'node1' })).rejects.toThrow(/older/);
  });
  it('refuses to listen on a wildcard or a host name', async () => {
    const s = new NbdServer({ clusterSecret: secret, deviceSize: async () => 0 });
    await expect(s.listen('0.0.0.0', 0)).rejects.toThrow(/wildcard/);
    await expect(s.listen('localhost', 0)).rejects.toThrow(/IP address/);
  });
});
});
}
