// Vigil's NBD server against independent NBD clients on 127.0.0.1: libnbd's nbdinfo (size and
// flags) and nbdcopy (both directions, sha256 equal), qemu-img info, and qemu-io writes and
// reads with pattern verification, FUA writes, flush, write-zeroes and discard. Exports a
// sparse file and a loop block device (its size read through the Linux platform). A stale
// fencing token is refused by the server, which every tool reports as a failure. The server
// runs on its worker thread, as vigild runs it, once with the native data path (what vigild
// uses) and once with the TypeScript transmission (the reference). And our client handshake
// against Debian's nbd-server (GO and EXPORT_NAME), the way the primary's side may meet a
// third-party server.
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';
import { NbdRefusedError, negotiateClient } from '../../src/replication/nbd/client-handshake.js';
import { ExportTokenKey } from '../../src/replication/nbd/export-token.js';
import { NBD_FLAG_SEND_FUA } from '../../src/replication/nbd/protocol.js';
import { NbdTransmissionClient } from '../../src/replication/nbd/transmission-client.js';
import { NbdServerThread } from '../../src/replication/nbd/server-thread.js';
import { waitFor } from '../../scripts/lib/wait.js';

const run = promisify(execFile);
const tools = ['nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io', 'losetup'];
const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const notRoot = process.getuid?.() !== 0;
const skipReason = missing.length > 0 ? `missing ${missing.join(', ')} (qemu-utils, libnbd-bin, util-linux)` : notRoot ? 'needs root for a loop device' : undefined;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(skipReason !== undefined).each(['native', 'typescript'] as const)(`NBD server interoperability, %s data path${skipReason ? ` (skipped: ${skipReason})` : ''}`, (dataPath) => {
  const secret = randomBytes(32);
  const key = new ExportTokenKey(secret);
  const FILE_SIZE = 64 * 1024 * 1024;
  const LOOP_SIZE = 32 * 1024 * 1024;
  let dir: string;
  let file: string;
  let loopImage: string;
  let loopDev: string | undefined;
  let server: NbdServerThread;
  let port: number;
  const platform = createLinuxPlatform();

  const uri = (mirror: string, generation: number, system = 'node1') =>
    `nbd://127.0.0.1:${port}/${encodeURIComponent(key.exportName({ mirror, generation, clientSystem: system }))}`;
  const qemuUri = (mirror: string, generation: number) => `nbd://127.0.0.1:${port}/${key.exportName({ mirror, generation, clientSystem: 'node1' })}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-nbd-interop-'));
    file = join(dir, 'replica.img');
    writeFileSync(file, '');
    truncateSync(file, FILE_SIZE);
    loopImage = join(dir, 'loop.img');
    writeFileSync(loopImage, '');
    truncateSync(loopImage, LOOP_SIZE);
    loopDev = (await run('losetup', ['--find', '--show', loopImage])).stdout.trim();
    server = new NbdServerThread({ clusterSecret: secret, deviceSize: async (p) => (await platform.blockDevices.info(p, 5000)).sizeBytes, dataPath });
    ({ port } = await server.listen('127.0.0.1', 0));
    await server.exportMirror({ mirror: 'file', path: file, generation: 7, primary: 'node1' });
    await server.exportMirror({ mirror: 'loop', path: loopDev, generation: 1, primary: 'node1' });
  });

  afterAll(async () => {
    await server?.close();
    if (loopDev) await run('losetup', ['-d', loopDev]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('nbdinfo reports the size and the flags', async () => {
    const info = JSON.parse((await run('nbdinfo', ['--json', uri('file', 7)])).stdout) as {
      protocol: string;
      exports: Record<string, unknown>[];
    };
    expect(info.protocol).toBe('newstyle-fixed');
    expect(info.exports[0]).toMatchObject({
      'export-size': FILE_SIZE,
      is_read_only: false,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_multi_conn: true,
      block_size_preferred: 4096,
    });
    const loop = JSON.parse((await run('nbdinfo', ['--json', uri('loop', 1)])).stdout) as { exports: Record<string, unknown>[] };
    expect(loop.exports[0]).toMatchObject({ 'export-size': LOOP_SIZE });
  });

  it('qemu-img info sees a raw image of the export size', async () => {
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', qemuUri('file', 7)])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ format: 'raw', 'virtual-size': FILE_SIZE });
  });

  it('qemu-io writes (plain and FUA), flushes, zeroes, discards and reads back with pattern verification', async () => {
    const before = (await server.counters()).transmission;
    const cmds = [
      'write -P 0xa5 0 1M',
      'write -f -P 0x5a 1M 256k', // -f: FUA
      'flush',
      'write -z 2M 512k',
      'discard 3M 64k',
      'read -P 0xa5 0 1M',
      'read -P 0x5a 1M 256k',
      'read -P 0 2M 512k',
    ];
    const out = (await run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), qemuUri('file', 7)])).stdout;
    expect(out).not.toMatch(/Pattern verification failed|error|failed/i);
    expect(out.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(3);
    const after = (await server.counters()).transmission;
    expect(after.fuaWrites).toBeGreaterThan(before.fuaWrites);
    expect(after.flushes).toBeGreaterThan(before.flushes);
    expect(after.writeZeroes + after.trims).toBeGreaterThan(before.writeZeroes + before.trims);
    // And the bytes are in the exported file.
    const img = readFileSync(file);
    expect(img.subarray(0, 1 << 20).equals(Buffer.alloc(1 << 20, 0xa5))).toBe(true);
    expect(img.subarray(1 << 20, (1 << 20) + (256 << 10)).equals(Buffer.alloc(256 << 10, 0x5a))).toBe(true);
    // A wrong pattern is caught (the verification above is not vacuous).
    const wrong = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x11 0 4k', qemuUri('file', 7)]).then(
      () => 'qemu-io accepted a wrong pattern',
      (e: { stdout: string }) => e.stdout,
    );
    expect(wrong).toMatch(/Pattern verification failed/);
  });

  it('qemu-io zeroes and discards on the block device export (the kernel zeroes the range) and reads zeroes back', async () => {
    const loopUri = `nbd://127.0.0.1:${port}/${key.exportName({ mirror: 'loop', generation: 1, clientSystem: 'node1' })}`;
    const cmds = ['write -P 0x77 0 2M', 'write -z 0 512k', 'write -z -f 512k 4k', 'discard 1M 64k', 'read -P 0 0 516k', 'read -P 0 1M 64k', 'read -P 0x77 516k 508k', 'read -P 0x77 1088k 960k'];
    const out = (await run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), loopUri])).stdout;
    expect(out).not.toMatch(/Pattern verification failed|error|failed/i);
    expect(out.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(4);
    const dev = readFileSync(loopDev!).subarray(0, 2 << 20);
    expect(dev.subarray(0, 516 << 10).equals(Buffer.alloc(516 << 10))).toBe(true);
    expect(dev.subarray(1 << 20, (1 << 20) + (64 << 10)).equals(Buffer.alloc(64 << 10))).toBe(true);
    expect(dev.subarray(516 << 10, 1 << 20).equals(Buffer.alloc((1 << 20) - (516 << 10), 0x77))).toBe(true);
  });

  it('nbdcopy copies into the export and back out, file and block device, sha256 equal', async () => {
    for (const [mirror, gen, size] of [['file', 7, FILE_SIZE], ['loop', 1, LOOP_SIZE]] as const) {
      const src = join(dir, `${mirror}.src`);
      const back = join(dir, `${mirror}.back`);
      const data = randomBytes(size);
      writeFileSync(src, data);
      await run('nbdcopy', [src, uri(mirror, gen)]);
      await run('nbdcopy', [uri(mirror, gen), back]);
      expect(sha256(readFileSync(back))).toBe(sha256(data));
      const exported = mirror === 'file' ? readFileSync(file) : readFileSync(loopDev!);
      expect(sha256(exported)).toBe(sha256(data));
    }
  });

  it('refuses a stale token: nbdinfo, qemu-img and nbdcopy fail, and the refusals are counted', async () => {
    const before = (await server.counters()).refused['stale-generation'];
    const nbdinfo = await run('nbdinfo', [uri('file', 6)]).then(
      () => undefined,
      (e: { stderr: string }) => e.stderr,
    );
    expect(nbdinfo).toMatch(/opt_go|error/i);
    await expect(run('qemu-img', ['info', qemuUri('file', 6)])).rejects.toThrow();
    await expect(run('nbdcopy', [join(dir, 'file.src'), uri('file', 6)])).rejects.toThrow();
    expect((await server.counters()).refused['stale-generation']).toBeGreaterThanOrEqual(before + 3);
    // A token for the right generation but another system is refused as well.
    await expect(run('nbdinfo', [uri('file', 7, 'node2')])).rejects.toThrow();
    expect((await server.counters()).refused['not-primary']).toBeGreaterThanOrEqual(1);
  });
});

const noNbdServer = spawnSync('sh', ['-c', 'command -v nbd-server']).status !== 0 ? 'nbd-server is not installed (Debian package nbd-server)' : undefined;

describe.skipIf(noNbdServer !== undefined)(`client handshake against Debian's nbd-server${noNbdServer ? ` (skipped: ${noNbdServer})` : ''}`, () => {
  let dir: string;
  let pid: number | undefined;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-nbd-debian-'));
    const img = join(dir, 'disk.img');
    writeFileSync(img, '');
    truncateSync(img, 4 * 1024 * 1024);
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const conf = join(dir, 'nbd-server.conf');
    writeFileSync(conf, `[generic]\n  user = root\n  group = root\n  listenaddr = 127.0.0.1\n  port = ${port}\n[disk]\n  exportname = ${img}\n  flush = true\n  fua = true\n`);
    await run('nbd-server', ['-C', conf, '-p', join(dir, 'pid')]);
    // The daemonized child writes the pid file, possibly after the command that started it exited.
    const pidFile = join(dir, 'pid');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', { deadlineMs: 15_000, intervalMs: 50, what: 'nbd-server pid file' });
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  });

  afterAll(() => {
    if (pid) process.kill(pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  const dial = async (): Promise<Socket> => {
    for (let i = 0; ; i++) {
      try {
        return await new Promise<Socket>((resolve, reject) => {
          const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
          s.once('error', reject);
        });
      } catch (err) {
        if (i > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  it('negotiates with NBD_OPT_GO and with NBD_OPT_EXPORT_NAME, then reads and writes', async () => {
    for (const forceExportName of [false, true]) {
      const s = await dial();
      const r = await negotiateClient(s, { exportName: 'disk', forceExportName });
      expect(r).toMatchObject({ sizeBytes: 4 * 1024 * 1024, via: forceExportName ? 'NBD_OPT_EXPORT_NAME' : 'NBD_OPT_GO' });
      expect(r.transmissionFlags & NBD_FLAG_SEND_FUA).toBe(NBD_FLAG_SEND_FUA);
      const c = new NbdTransmissionClient(s);
      const data = randomBytes(8192);
      await c.write(4096, data, { fua: true });
      expect((await c.read(4096, 8192)).equals(data)).toBe(true);
      await c.disconnect();
    }
  });

  it('an unknown export is refused with a typed error', async () => {
    const s = await dial();
    await expect(negotiateClient(s, { exportName: 'nope' })).rejects.toBeInstanceOf(NbdRefusedError);
  });
});
