// Runs inside a VM: the md/NBD contract scenario (test/contract/replication-suite.ts) against
// the Linux platform, i.e. the native addon on a real kernel. The backup is Debian's nbd-server on
// 127.0.0.1 exporting a second local disk (a smaller file export stands in for an undersized
// target); "the backup vanishes" kills that server. Prints one JSON line with each step's outcome.
// Code is loaded from SNAPSHOT_DIR (a copy of src/ and test/contract made before the VMs booted).
//
// usage: replication-contract.ts SNAPSHOT_DIR LOCAL_DISK BACKUP_DISK
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const [snapshotDir, localDisk, backupDisk] = process.argv.slice(2);
if (!snapshotDir || !localDisk || !backupDisk) {
  console.error('usage: replication-contract.ts SNAPSHOT_DIR LOCAL_DISK BACKUP_DISK');
  process.exit(2);
}
const load = <T>(rel: string): Promise<T> => import(path.join(snapshotDir, rel)) as Promise<T>;
const { createLinuxPlatform } = await load<typeof import('../../../src/platform/linux/index.js')>('src/platform/linux/index.ts');
const { TcpBackupLink } = await load<typeof import('../../../src/replication/backup-link.js')>('src/replication/backup-link.ts');
const { REPLICATION_DEFAULTS } = await load<typeof import('../../../src/replication/config.js')>('src/replication/config.ts');
const { runScenario } = await load<typeof import('../../contract/replication-suite.js')>('test/contract/replication-suite.ts');

const NUMBER = 5;
const PORT = 10809;
const sh = (cmd: string) => {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
};

sh('modprobe nbd && modprobe raid1');
const localDiskBytes = Number(sh(`blockdev --getsize64 ${localDisk}`).trim());
sh(`truncate -s ${Math.floor(localDiskBytes / 2)} /tmp/small.img`);
writeFileSync(
  '/tmp/nbd-contract.conf',
  `[generic]\n  user = root\n  group = root\n  listenaddr = 127.0.0.1\n  port = ${PORT}\n[disk]\n  exportname = ${backupDisk}\n[small]\n  exportname = /tmp/small.img\n`,
);

const PIDFILE = '/tmp/nbd-contract.pid';
/**
 * True once nbd-server answers with its greeting. The probe reads the greeting and then closes
 * gracefully (FIN): a probe that reset the connection right after connecting could hit the
 * server's side mid-greeting (a CI run's next handshake then waited 30 s for an answer).
 */
async function listening(): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let got = 0;
    const probe = net.connect({ host: '127.0.0.1', port: PORT });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      probe.removeAllListeners('data');
      if (ok) probe.end();
      else probe.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 5000);
    // NBDMAGIC (8 bytes), IHAVEOPT (8), handshake flags (2).
    probe.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= 18) done(true);
    });
    probe.once('error', () => done(false));
  });
}
async function startServer(): Promise<void> {
  // nbd-server daemonizes into its own process group and forks one child per client.
  sh(`nbd-server -C /tmp/nbd-contract.conf -p ${PIDFILE}`);
  for (let i = 0; i < 100; i++) {
    if (await listening()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('nbd-server did not start listening');
}
async function stopServer(): Promise<void> {
  // The daemon and every child serving a connection (a child may not stay in the daemon's
  // process group); this VM runs no other nbd-server.
  spawnSync('sh', ['-c', 'kill -9 $(pidof nbd-server)']);
  for (let i = 0; i < 100 && spawnSync('pidof', ['nbd-server']).status === 0; i++) await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 100 && (await listening()); i++) await new Promise((r) => setTimeout(r, 100));
  spawnSync('rm', ['-f', PIDFILE]);
}

/** Sectors written to a block device (field 7 of /sys/block/NAME/stat). */
const writtenSectors = async (device: string) => Number(readFileSync(`/sys/block/${path.basename(device)}/stat`, 'utf8').trim().split(/\s+/)[6]);

await startServer();
let kernelView = '';
const platform = createLinuxPlatform();
const results = await runScenario({
  platform,
  number: NUMBER,
  localDisk,
  localDiskBytes,
  link: new TcpBackupLink({ host: '127.0.0.1', port: PORT, exportName: 'disk' }),
  smallLink: new TcpBackupLink({ host: '127.0.0.1', port: PORT, exportName: 'small' }),
  config: { ...REPLICATION_DEFAULTS, syncSpeedMaxKiB: 500_000, bitmapChunkKiB: 1024, nbdIoTimeoutSec: 5, callTimeoutMs: 30_000 },
  write: async (offset, bytes) => {
    sh(`dd if=/dev/urandom of=/dev/md${NUMBER} bs=64k seek=${offset / 65536} count=${bytes / 65536} oflag=direct conv=fsync status=none`);
  },
  writtenSectors,
  backupDown: stopServer,
  backupUp: startServer,
  hangMd: 'a real md ioctl cannot be made to hang on demand (the time limit is covered by the probe runner tests)',
  resyncDeadlineMs: 120_000,
}).finally(async () => {
  // The kernel's view first (md's state and log), for a step that failed; then leave the guest
  // clean even when a step failed half-way.
  kernelView = spawnSync('sh', ['-c', `cat /proc/mdstat; mdadm --detail /dev/md${NUMBER}; dmesg | tail -60`], { encoding: 'utf8' }).stdout;
  spawnSync('sh', ['-c', `mdadm --stop /dev/md${NUMBER}; nbd-client -d /dev/nbd${NUMBER}`], { stdio: 'ignore' });
  await stopServer();
});
// A failed step gets the kernel's view of it: md's state and the kernel log.
const failed = results.find((r) => r.outcome === 'failed');
if (failed) failed.detail = `${failed.detail}\n--- kernel ---\n${kernelView}`;
console.log(JSON.stringify(results));
process.exit(0);
