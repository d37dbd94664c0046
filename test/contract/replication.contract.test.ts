// The md/NBD contract (replication-suite.ts) against the memory platform, on this host. The same
// steps run against the Linux platform inside a VM: test/e2e/replication-contract.test.ts.
import { describe, expect, it } from 'vitest';

import { createMemoryPlatform } from '../../src/platform/memory/index.js';
import type { BackupConnection, BackupLink } from '../../src/replication/backup-link.js';
import { REPLICATION_DEFAULTS } from '../../src/replication/config.js';
import { newScenario, REPLICATION_CONTRACT, type ReplicationSubject } from './replication-suite.js';

const MiB = 1 << 20;

/** A pretend NBD server: hands out fake descriptors while up, refuses while down. */
class FakeLink implements BackupLink {
  up = true;
  constructor(
    readonly address: string,
    private readonly sizeBytes: number,
  ) {}
  async connect(): Promise<BackupConnection> {
    if (!this.up) throw new Error(`connection refused by ${this.address}`);
    return { fd: 100, sizeBytes: this.sizeBytes, transmissionFlags: 1 | 4 | 8, release: () => undefined };
  }
}

function memorySubject(): ReplicationSubject {
  const p = createMemoryPlatform();
  const number = 3;
  const localDisk = '/dev/vdb';
  const localDiskBytes = 64 * MiB;
  p.kernel.addBlockDevice(localDisk, { sizeBytes: localDiskBytes, logicalSectorSize: 512, readOnly: false });
  p.replication.addBlockDevice(localDisk, localDiskBytes);
  const link = new FakeLink('backup:10809', localDiskBytes + MiB);
  return {
    platform: p,
    number,
    localDisk,
    localDiskBytes,
    link,
    smallLink: new FakeLink('small:10809', localDiskBytes - MiB),
    config: { ...REPLICATION_DEFAULTS, syncSpeedMaxKiB: 400_000, bitmapChunkKiB: 1024, nbdIoTimeoutSec: 1 },
    write: async (offset, bytes) => p.replication.write(`/dev/md${number}`, offset, bytes),
    writtenSectors: async (device) => p.replication.writtenSectors(device),
    backupDown: async () => {
      link.up = false;
      p.replication.serverGone(number);
    },
    backupUp: async () => {
      link.up = true;
    },
    hangMd: () => {
      p.replication.hang(`/dev/md${number}`);
      return () => p.replication.release(`/dev/md${number}`);
    },
    resyncDeadlineMs: 20_000,
  };
}

describe('replication contract: memory platform', () => {
  const subject = memorySubject();
  const ctx = newScenario(subject);
  for (const step of REPLICATION_CONTRACT) {
    const why = step.skip?.(subject);
    it.skipIf(why !== undefined)(why ? `${step.name} (skipped: ${why})` : step.name, { timeout: 60_000 }, async () => {
      await step.run(subject, ctx);
      expect(ctx.events.errors.map((e) => e.message)).toEqual([]);
    });
  }
});

// What the Linux implementation can show on this host, which has no md or NBD modules: typed
// errors from real syscalls and refusals before any kernel call. The whole scenario runs against
// Linux inside a VM (test/e2e/replication.test.ts).
describe('replication platform on Linux: errors on a host without md', () => {
  it('an ioctl on a device that is not md fails with errno, syscall and path', async () => {
    const { LinuxMdControl } = await import('../../src/platform/linux/md-control.js');
    const { SysError } = await import('../../src/platform/errors.js');
    const md = new LinuxMdControl();
    const missing = await md.arrayInfo('/dev/md250', 2000).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SysError);
    expect(missing).toMatchObject({ code: 'ENOENT', syscall: 'open', path: '/dev/md250' });
    expect((missing as InstanceType<typeof SysError>).errno).toBe(2);
    const watch = (() => {
      try {
        md.watch('/dev/md250', [], () => undefined);
      } catch (e) {
        return e;
      }
    })();
    expect(watch).toMatchObject({ code: 'ENOENT', syscall: 'open', path: '/sys/block/md250/md/array_state' });
    expect(() => md.watch('/dev/sda', [], () => undefined)).toThrow(/not an md device path/);
    await expect(md.devNumber('/dev/null')).rejects.toMatchObject({ code: 'ENOTBLK', syscall: 'stat', path: '/dev/null' });
  });
});
