// Vigil's NBD server with the kernel's NBD client on a real kernel: node2 runs the server on its
// worker thread (test/e2e/guest/nbd-export.ts) exporting its local disk on its cluster address; node1 attaches
// Debian's nbd-client (its own handshake, NBD_OPT_GO with the tokened export name) to /dev/nbd0,
// writes 16 MiB of random data with O_DIRECT and fsync, and node2's disk then holds exactly those
// bytes. Then the mirror moves to a new generation with node2 as primary, as at a failover: the
// kernel client's connection is cut, node1's next write fails with an I/O error and never reaches
// node2's disk, and node1's now stale export name is refused at the handshake (counted).
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ExportTokenKey } from '../../src/replication/nbd/export-token.js';
import { guestTsx, useCluster, useGuestSnapshot, vmUnavailable } from './helpers/vmcluster.js';

const title = vmUnavailable ? `NBD server with the kernel client (skipped: ${vmUnavailable})` : 'NBD server with the kernel client';

describe.skipIf(!!vmUnavailable)(title, () => {
  // Compiled code (npm run build:ts first): the server's worker thread loads JavaScript.
  const snapshot = useGuestSnapshot(['dist/src/replication', 'dist/src/platform', 'dist/src/common']);
  const cluster = useCluster({ nodes: 2, localDisksMb: [64] });
  const secret = randomBytes(32);
  const key = new ExportTokenKey(secret);
  const LOG = '/tmp/nbd-export.log';

  it('serves the kernel client, then fences it: cut at the new generation, its write fails, its stale name is refused', async () => {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const disk2 = n2.localDisks[0]!;
    const server = await n2.spawn(guestTsx('test/e2e/guest/nbd-export.ts', snapshot(), n2.ip(), '10809', disk2, secret.toString('hex'), 'data', '5', 'node1'), { log: LOG });
    await n2.waitFor(async () => (await n2.readFile(LOG)).toString().includes('"listening":10809'), { deadlineMs: 120_000, intervalMs: 500, what: 'Vigil NBD server listening' });

    await n1.run('modprobe nbd');
    const name = key.exportName({ mirror: 'data', generation: 5, clientSystem: 'node1' });
    await n1.run(`nbd-client ${n2.ip()} -N ${name} /dev/nbd0`, { timeoutMs: 60_000 });
    expect((await n1.run('blockdev --getsize64 /dev/nbd0')).trim()).toBe(String(64 * 1024 * 1024));
    expect((await n1.exec('nbd-client -c /dev/nbd0')).code).toBe(0);

    const data = randomBytes(16 * 1024 * 1024);
    await n1.writeFile('/tmp/random', data);
    await n1.run('dd if=/tmp/random of=/dev/nbd0 bs=1M oflag=direct conv=fsync status=none', { timeoutMs: 120_000 });
    // Read back through the kernel client too, around the page cache.
    const viaNbd = (await n1.run('dd if=/dev/nbd0 bs=1M count=16 iflag=direct status=none | sha256sum', { timeoutMs: 120_000 })).split(' ')[0];
    const expected = createHash('sha256').update(data).digest('hex');
    expect(viaNbd).toBe(expected);
    const onDisk = (await n2.run(`head -c ${16 * 1024 * 1024} ${disk2} | sha256sum`, { timeoutMs: 60_000 })).split(' ')[0];
    expect(onDisk).toBe(expected);

    // Failover: generation 6 belongs to node2. node1's connection is cut at once.
    await n2.writeFile('/tmp/nbd-epoch.json', JSON.stringify({ generation: 6, primary: 'node2' }));
    await n2.waitFor(async () => (await n2.readFile(LOG)).toString().includes('"epoch":{"generation":6'), { deadlineMs: 30_000, intervalMs: 300, what: 'epoch 6 set' });
    await n1.writeFile('/tmp/late', Buffer.alloc(4096, 0x5a));
    const late = await n1.exec('dd if=/tmp/late of=/dev/nbd0 bs=4k count=1 oflag=direct,sync status=none', { timeoutMs: 90_000 });
    expect(late.code, 'a write from the fenced primary must fail').not.toBe(0);
    expect(late.timedOut).toBe(false);
    await n1.exec('nbd-client -d /dev/nbd0', { timeoutMs: 30_000 });
    const afterFence = (await n2.run(`head -c ${16 * 1024 * 1024} ${disk2} | sha256sum`, { timeoutMs: 60_000 })).split(' ')[0];
    expect(afterFence, 'the fenced write reached the replica').toBe(expected);

    // node1 comes back stale: its generation-5 name is refused at the handshake.
    const stale = key.exportName({ mirror: 'data', generation: 5, clientSystem: 'node1' });
    const refused = await n1.exec(`nbd-client ${n2.ip()} -N ${stale} /dev/nbd1`, { timeoutMs: 60_000 });
    expect(refused.code).not.toBe(0);
    expect((await n1.exec('nbd-client -c /dev/nbd1')).code).not.toBe(0);

    await n2.kill(server.pid, 'SIGTERM');
    let counters: { refused: Record<string, number>; revokedSessions: number; transmission: { writes: number; flushes: number; bytesWritten: number } } | undefined;
    await n2.waitFor(
      async () => {
        const line = (await n2.readFile(LOG)).toString().split('\n').find((l) => l.startsWith('{"counters"'));
        if (line) counters = (JSON.parse(line) as { counters: typeof counters }).counters;
        return counters !== undefined;
      },
      { deadlineMs: 30_000, intervalMs: 300, what: 'NBD server counters' },
    );
    expect(counters!.refused['stale-generation']).toBeGreaterThanOrEqual(1);
    expect(counters!.revokedSessions).toBeGreaterThanOrEqual(1);
    expect(counters!.transmission.bytesWritten).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    expect(counters!.transmission.flushes).toBeGreaterThanOrEqual(1);
  });
});
