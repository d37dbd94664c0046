// A real ext4 file system on a loop device for integration tests (root only), with cleanup that
// also runs after failures: unmount everything under the mount point, detach the loop device,
// delete the image.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const haveRoot = process.getuid?.() === 0;
export const haveLoop = (() => {
  try {
    execFileSync('losetup', ['--version'], { stdio: 'ignore' });
    execFileSync('mkfs.ext4', ['-V'], { stdio: 'ignore' });
    return readFileSync('/proc/filesystems', 'utf8').includes('ext4');
  } catch {
    return false;
  }
})();
export const loopSkipReason = !haveRoot ? 'needs root (losetup, mount)' : !haveLoop ? 'needs losetup, mkfs.ext4 and ext4 support' : '';
if (loopSkipReason) console.warn(`[hierarchy integration] skipping loop-device tests: ${loopSkipReason}`);

export interface LoopFs {
  dir: string;
  image: string;
  device: string;
  mountPoint: string;
  cleanup(): void;
}

export function makeLoopExt4(sizeMb = 32): LoopFs {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-loop-'));
  const image = join(dir, 'disk.img');
  execFileSync('truncate', ['-s', `${sizeMb}M`, image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  const device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
  const mountPoint = join(dir, 'mnt');
  return {
    dir,
    image,
    device,
    mountPoint,
    cleanup() {
      for (let i = 0; i < 5 && isMounted(mountPoint); i++) {
        try {
          execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
        } catch {
          // Try again.
        }
      }
      try {
        execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
      } catch {
        // Already detached.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function isMounted(mountPoint: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === mountPoint);
}
