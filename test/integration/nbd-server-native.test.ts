// The NBD server with the native data path (native/nbd_server.cc through the Linux platform's
// NbdDataPath), on this host against a file export: the same client-visible suite as the
// TypeScript transmission (test/helpers/nbd-server-suite.ts), on the server's worker thread (as
// vigild runs it) and on the test's own thread; then what the hand-over and the native threads
// must get right: requests sent together with the handshake (bytes Node read past it), a
// pipeline of reads far larger than the in-flight limit, a client that vanishes in the middle
// of a request or of a large reply, and an export whose file system stops answering (fusehang)
// — none of which may hold up the event loop, block a revocation or leave the session counted.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../scripts/lib/wait.js';
import { LinuxNbdDataPath } from '../../src/platform/linux/nbd-data-path.js';
import { negotiateClient } from '../../src/replication/nbd/client-handshake.js';
import { ExportTokenKey } from '../../src/replication/nbd/export-token.js';
import * as P from '../../src/replication/nbd/protocol.js';
import { NbdServer } from '../../src/replication/nbd/server.js';
import { NbdServerThread } from '../../src/replication/nbd/server-thread.js';
import { NbdTransmissionClient } from '../../src/replication/nbd/transmission-client.js';
import { FuseHang, fuseUnavailableReason } from '../fixtures/fusehang/harness.js';
import { nbdServerSuite } from '../helpers/nbd-server-suite.js';

nbdServerSuite('native data path, worker thread', (options) => new NbdServerThread({ ...options, dataPath: 'native' }));
nbdServerSuite('native data path, in-process', (options) => new NbdServer({ ...options, dataPath: new LinuxNbdDataPath() }));

const secret = randomBytes(32);
const key = new ExportTokenKey(secret);
const SIZE = 64 * 1024 * 1024;

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Collects bytes from `s` until `n` have arrived (or the socket closes: then what came). */
function receive(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let have = 0;
    const done = () => {
      s.off('data', onData);
      resolve(Buffer.concat(parts));
    };
    const onData = (d: Buffer) => {
      parts.push(d);
      have += d.length;
      if (have >= n) done();
    };
    s.on('data', onData);
    s.once('close', done);
  });
}

/** Largest gap between 5 ms ticks of this thread's event loop while `op` runs. */
async function maxLoopLagMs(op: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  try {
    await op();
  } finally {
    clearInterval(t);
  }
  return worst;
}

describe('native data path: hand-over and failures', () => {
  let dir: string;
  let file: string;
  let server: NbdServerThread;
  let port: number;
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  const name = (generation = 1, system = 'n1') => key.exportName({ mirror: 'm', generation, clientSystem: system });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-nbd-native-'));
    file = join(dir, 'replica.img');
    writeFileSync(file, '');
    truncateSync(file, SIZE);
    server = new NbdServerThread({ clusterSecret: secret, deviceSize: async () => 0, dataPath: 'native', log: (_l, msg, fields) => logs.push({ msg, ...(fields ? { fields } : {}) }) });
    ({ port } = await server.listen('127.0.0.1', 0));
    await server.exportMirror({ mirror: 'm', path: file, generation: 1, primary: 'n1' });
  });

  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sessions run on the native data path', async () => {
    const c = new NbdTransmissionClient(await dial(port).then(async (s) => (await negotiateClient(s, { exportName: name() }), s)));
    await c.write(0, Buffer.alloc(4096, 1));
    await c.disconnect();
    expect(logs.find((l) => l.msg === 'NBD session started')?.fields).toMatchObject({ dataPath: 'native' });
    await waitFor(() => logs.some((l) => l.msg === 'NBD session ended' && l.fields?.kind === 'disconnect'), { deadlineMs: 5000, intervalMs: 20, what: 'a disconnect end' });
  });

  it('serves requests sent in the same packet as the handshake (bytes read past its end)', async () => {
    const s = await dial(port);
    const data = randomBytes(8192);
    const req = (type: number, cookie: bigint, offset: number, length: number) => P.encodeRequest({ flags: 0, type, cookie, offset: BigInt(offset), length });
    const greeting = 18;
    const exportReply = 10; // size and flags, no zeroes
    const expected = greeting + exportReply + 16 + 16 + data.length + 16;
    const got = receive(s, expected);
    s.write(
      Buffer.concat([
        P.encodeClientFlags(P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES),
        P.encodeOption(P.NBD_OPT_EXPORT_NAME, Buffer.from(name())),
        req(P.NBD_CMD_WRITE, 11n, 1 << 20, data.length),
        data,
        req(P.NBD_CMD_READ, 12n, 4 << 20, data.length), // never written: zeroes
        req(P.NBD_CMD_READ, 13n, SIZE, 1), // out of range: EINVAL
        req(P.NBD_CMD_DISC, 14n, 0, 0),
      ]),
    );
    const b = await got;
    expect(b.length).toBe(expected);
    // Replies may come in any order (requests run concurrently): match them by cookie.
    let at = greeting + exportReply;
    const replies = new Map<bigint, { error: number; data?: Buffer }>();
    for (let k = 0; k < 3; k++) {
      expect(b.readUInt32BE(at)).toBe(P.NBD_SIMPLE_REPLY_MAGIC);
      const error = b.readUInt32BE(at + 4);
      const cookie = b.readBigUInt64BE(at + 8);
      at += 16;
      if (cookie === 12n) {
        replies.set(cookie, { error, data: Buffer.from(b.subarray(at, at + data.length)) });
        at += data.length;
      } else {
        replies.set(cookie, { error });
      }
    }
    expect(replies.get(11n)).toEqual({ error: 0 });
    expect(replies.get(12n)).toEqual({ error: 0, data: Buffer.alloc(data.length) });
    expect(replies.get(13n)).toEqual({ error: P.NBD_EINVAL });
    // The write is in the export.
    const c = new NbdTransmissionClient(await dial(port).then(async (x) => (await negotiateClient(x, { exportName: name() }), x)));
    expect((await c.read(1 << 20, data.length)).equals(data)).toBe(true);
    await c.disconnect();
    s.destroy();
  });

  it('serves a pipeline of reads far larger than the in-flight and buffer limits', async () => {
    const s = await dial(port);
    await negotiateClient(s, { exportName: name() });
    const c = new NbdTransmissionClient(s);
    // 20 reads of 8 MiB at once (160 MiB of replies against a 64 MiB limit), then 200 small ones (above 64 in flight).
    const big = await Promise.all(Array.from({ length: 20 }, (_, i) => c.read((i % 4) * 8 * 1024 * 1024, 8 * 1024 * 1024)));
    expect(big.every((b) => b.length === 8 * 1024 * 1024)).toBe(true);
    const small = await Promise.all(Array.from({ length: 200 }, (_, i) => c.read(i * 4096, 4096)));
    expect(small.every((b) => b.length === 4096)).toBe(true);
    await c.disconnect();
  }, 60_000);

  it('a client vanishing in the middle of a WRITE payload or of large replies ends its session; the loop never stalls', async () => {
    const before = await server.counters();
    const lag = await maxLoopLagMs(async () => {
      // Half a payload, then gone.
      const a = await dial(port);
      await negotiateClient(a, { exportName: name() });
      a.write(Buffer.concat([P.encodeRequest({ flags: 0, type: P.NBD_CMD_WRITE, cookie: 1n, offset: 0n, length: 1 << 20 }), Buffer.alloc(100_000)]));
      await new Promise((r) => setTimeout(r, 50));
      a.destroy();
      // Four 32 MiB reads never read back: the replies block in the socket until it goes.
      const b = await dial(port);
      await negotiateClient(b, { exportName: name() });
      for (let i = 0; i < 4; i++) b.write(P.encodeRequest({ flags: 0, type: P.NBD_CMD_READ, cookie: BigInt(i), offset: 0n, length: 32 << 20 }));
      await new Promise((r) => setTimeout(r, 300));
      b.destroy();
      await waitFor(async () => (await server.counters()).activeSessions === 0, { deadlineMs: 10_000, intervalMs: 20, what: 'both sessions ended' });
    });
    expect(lag).toBeLessThan(200);
    const after = await server.counters();
    expect(after.transmission.writes).toBe(before.transmission.writes + 1);
    expect(after.transmission.reads).toBeGreaterThanOrEqual(before.transmission.reads + 1);
    expect(after.transmission.bytesWritten).toBe(before.transmission.bytesWritten);
    // And the server goes on serving.
    const s = await dial(port);
    await negotiateClient(s, { exportName: name() });
    const c = new NbdTransmissionClient(s);
    await c.write(0, Buffer.alloc(512, 9));
    expect((await c.read(0, 512)).equals(Buffer.alloc(512, 9))).toBe(true);
    await c.disconnect();
  }, 30_000);
});

const noFuse = fuseUnavailableReason();

describe.skipIf(noFuse !== undefined)(`native data path: an export whose file system hangs${noFuse ? ` (skipped: ${noFuse})` : ''}`, () => {
  let fuse: FuseHang;
  let server: NbdServerThread;
  let port: number;

  beforeAll(async () => {
    fuse = await FuseHang.mount();
    const file = join(fuse.rwDir, 'replica.img');
    writeFileSync(file, '');
    truncateSync(file, 8 * 1024 * 1024);
    server = new NbdServerThread({ clusterSecret: secret, deviceSize: async () => 0, dataPath: 'native', callTimeoutMs: 5000 });
    ({ port } = await server.listen('127.0.0.1', 0));
    await server.exportMirror({ mirror: 'f', path: file, generation: 1, primary: 'n1' });
  });

  afterAll(async () => {
    fuse?.release();
    await server?.close().catch(() => undefined);
    fuse?.unmount();
  });

  it('a write stuck in the file system holds neither event loop nor the revocation, and the session ends once the disk answers', async () => {
    const s = await dial(port);
    await negotiateClient(s, { exportName: key.exportName({ mirror: 'f', generation: 1, clientSystem: 'n1' }) });
    const c = new NbdTransmissionClient(s);
    await c.write(0, Buffer.alloc(4096, 1)); // answered while the file system still works
    fuse.hang(['write', 'fsync']);
    const stuck = c.write(4096, Buffer.alloc(4096, 2)).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    const lag = await maxLoopLagMs(async () => {
      await new Promise((r) => setTimeout(r, 300));
      // The server thread still answers calls while its native thread sits in the kernel.
      expect((await server.counters()).activeSessions).toBe(1);
      // The fence moves on: the stale connection is cut at once, the write never answered.
      await server.exportMirror({ mirror: 'f', path: join(fuse.rwDir, 'replica.img'), generation: 2, primary: 'n2' });
      expect(await stuck).toMatch(/closed/);
      expect((await server.counters()).activeSessions).toBe(0);
    });
    expect(lag).toBeLessThan(200);
    const counted = (await server.counters()).transmission.bytesWritten;
    fuse.release();
    // The stuck write completes in the kernel once released, and its bytes are counted then.
    await waitFor(async () => (await server.counters()).transmission.bytesWritten === counted + 4096, { deadlineMs: 10_000, intervalMs: 20, what: 'the released write counted' });
  }, 30_000);
});
