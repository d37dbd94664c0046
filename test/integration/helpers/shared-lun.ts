// A shared "LUN" for real vigild on one host whose storage link to each node can be cut alone:
// one disk image in a backing directory, one fusehang mount of that directory per node (its own
// path to the storage), and one loop device per node over the image under its own mount. Cutting
// a node's link hangs every call of its mount, so its loop device's I/O hangs in the kernel while
// the other node's goes on, as when one host loses its SAN path.
//
// FUSE page caches are per mount, so the mounts open files uncached (fusehang -o direct_io) and
// vigild's DISK path uses O_DIRECT on the loop devices: a write through one node's device is seen
// by the other's next read. open() checks that before anyone relies on it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FuseHang, fuseUnavailableReason } from '../../fixtures/fusehang/harness.js';

/** Why a shared LUN cannot be built here ('' when it can). */
export function sharedLunSkipReason(): string {
  const fuse = fuseUnavailableReason();
  if (fuse) return fuse;
  if (spawnSync('losetup', ['--version']).status !== 0) return 'needs losetup (util-linux)';
  if (!existsSync('/dev/loop-control')) return 'needs loop devices (/dev/loop-control)';
  if (spawnSync('dd', ['--version']).status !== 0) return 'needs dd (coreutils)';
  return '';
}

function run(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The image's size: the DISK path's area (512 KiB + 132 KiB) and a block for the coherence check. */
const IMAGE_BYTES = 8 << 20;
/** Where the coherence check writes: past the DISK path's area (it ends at 644 KiB). */
const CHECK_BLOCK = 1024; // x 4096 bytes = 4 MiB

export class SharedLun {
  private readonly mounts = new Map<string, FuseHang>();
  private readonly loops = new Map<string, string>();
  private readonly cutSince = new Map<string, number>();

  private constructor(readonly dir: string) {}

  /** The image, one mount and one loop device per node; throws when the views are not coherent. */
  static async open(nodes: string[]): Promise<SharedLun> {
    const lun = new SharedLun(mkdtempSync(join(tmpdir(), 'vigil-lun-')));
    try {
      const backing = join(lun.dir, 'backing');
      run('mkdir', '-m', '700', backing);
      const image = join(backing, 'lun.img');
      writeFileSync(image, '');
      truncateSync(image, IMAGE_BYTES);
      for (const n of nodes) {
        const m = await FuseHang.mount({ backingDir: backing, directIo: true });
        lun.mounts.set(n, m);
        lun.loops.set(n, run('losetup', '-f', '--show', join(m.rwDir, 'lun.img')).trim());
      }
      lun.checkCoherent(nodes);
    } catch (e) {
      lun.destroy();
      throw e;
    }
    return lun;
  }

  /** The loop device through which `node` sees the LUN. */
  device(node: string): string {
    const d = this.loops.get(node);
    if (!d) throw new Error(`no LUN view for ${node}`);
    return d;
  }

  /** Every node's write is read back through every other node's device (O_DIRECT both ways). */
  private checkCoherent(nodes: string[]): void {
    const block = join(this.dir, 'block');
    for (const writer of nodes) {
      for (const reader of nodes.filter((n) => n !== writer)) {
        const data = randomBytes(4096);
        writeFileSync(block, data);
        run('dd', `if=${block}`, `of=${this.device(writer)}`, 'bs=4096', `seek=${CHECK_BLOCK}`, 'count=1', 'oflag=direct,dsync', 'conv=notrunc', 'status=none');
        const back = spawnSync('dd', [`if=${this.device(reader)}`, 'bs=4096', `skip=${CHECK_BLOCK}`, 'count=1', 'iflag=direct', 'status=none']);
        if (back.status !== 0 || !Buffer.from(back.stdout).equals(data)) {
          throw new Error(`the shared LUN is not coherent: ${writer}'s write through ${this.device(writer)} is not what ${reader} reads through ${this.device(reader)}`);
        }
      }
    }
    rmSync(block, { force: true });
  }

  /** Hangs every call of `node`'s mount: its loop device's I/O waits in the kernel until heal(). */
  cut(node: string): void {
    this.mounts.get(node)!.hangAll();
    this.cutSince.set(node, Date.now());
  }

  heal(node: string): void {
    this.mounts.get(node)!.release();
    this.cutSince.delete(node);
  }

  isCut(node: string): boolean {
    return this.cutSince.has(node);
  }

  /** Releases every held call, detaches the loop devices, unmounts, removes the image. Idempotent. */
  destroy(): void {
    for (const m of this.mounts.values()) m.release();
    // A device still open (a vigild's DISK path) is detached when its last user closes it.
    for (const l of this.loops.values()) spawnSync('losetup', ['-d', l], { stdio: 'ignore' });
    this.loops.clear();
    for (const m of this.mounts.values()) m.unmount();
    this.mounts.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The loop devices' backing files, for a report (losetup's view). */
  describe(): string {
    return [...this.loops].map(([n, l]) => `${n} ${l} -> ${readFileSync(`/sys/block/${l.replace('/dev/', '')}/loop/backing_file`, 'utf8').trim()}`).join(', ');
  }
}
