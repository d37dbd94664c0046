// NBD client devices on Linux through the addon's generic-netlink calls (native/nbd.cc, on probe
// threads with a time limit), and the kernel's link-dead notices from one listening thread shared
// by every watcher. When the kernel has no "nbd" family yet the module is loaded with
// modprobe (time-limited) and the call is tried once more. Status adds what sysfs shows about
// the device: the connecting process (what `nbd-client -c` prints), size and backend.
import { readFile } from 'node:fs/promises';

import { runProgram } from '../../common/run-program.js';
import { mapNativeError, SysError } from '../errors.js';
import type { NbdAttachOptions, NbdControl, NbdLinkWatcher, NbdStatus } from '../platform.js';
import { ProgramError } from '../program-error.js';
import { loadNativeAddon } from './addon-loader.js';
import type { NativeAddon } from './native-addon.js';

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 1_000_000) throw new RangeError(`NBD device index must be a whole number: ${index}`);
}

async function sysfsValue(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

interface LinkListener {
  onDead: (index: number) => void;
  onError?: (err: Error) => void;
}

export class LinuxNbdControl implements NbdControl {
  private readonly addon: NativeAddon = loadNativeAddon();
  private readonly linkListeners = new Set<LinkListener>();
  private closeLinkThread: (() => void) | undefined;

  constructor(private readonly modprobe = 'modprobe') {}

  /** Runs `call`; when the nbd netlink family is missing, loads the module and runs it again. */
  private async withModule<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const mapped = mapNativeError(err);
      if (!(mapped instanceof SysError && mapped.code === 'ENOENT' && mapped.syscall.startsWith('genl(CTRL_CMD_GETFAMILY'))) throw mapped;
      const r = await runProgram(this.modprobe, ['nbd'], { timeoutMs });
      if (r.code !== 0) throw new ProgramError(this.modprobe, ['nbd'], r, timeoutMs);
      try {
        return await call();
      } catch (again) {
        throw mapNativeError(again);
      }
    }
  }

  attach(index: number, socketFd: number, options: NbdAttachOptions, timeoutMs: number): Promise<void> {
    checkIndex(index);
    return this.withModule(async () => {
      await this.addon.nbdConnect(
        {
          index,
          fd: socketFd,
          sizeBytes: options.sizeBytes,
          blockSize: options.blockSize ?? 512,
          timeoutSec: options.ioTimeoutSec,
          deadConnTimeoutSec: options.deadConnTimeoutSec ?? 0,
          serverFlags: options.transmissionFlags,
          backend: options.backend,
        },
        timeoutMs,
      );
    }, timeoutMs);
  }

  detach(index: number, timeoutMs: number): Promise<void> {
    checkIndex(index);
    return this.withModule(() => this.addon.nbdDisconnect(index, timeoutMs), timeoutMs);
  }

  reconnect(index: number, socketFd: number, timeoutMs: number): Promise<void> {
    checkIndex(index);
    return this.withModule(() => this.addon.nbdReconfigure(index, socketFd, timeoutMs), timeoutMs);
  }

  watchLinkDead(onDead: (index: number) => void, onError?: (err: Error) => void): NbdLinkWatcher {
    const listener: LinkListener = { onDead, onError };
    this.linkListeners.add(listener);
    this.closeLinkThread ??= this.addon.nbdWatchLinkDead((e) => {
      if (e.code !== undefined) {
        const err = mapNativeError(Object.assign(new Error(`${e.syscall ?? 'nbd link watch'}: ${e.code}`), { code: e.code, errno: e.errno, syscall: e.syscall, path: '/dev/nbd' })) as Error;
        for (const l of this.linkListeners) l.onError?.(err);
        return;
      }
      if (e.index === undefined || e.index < 0) return;
      for (const l of this.linkListeners) l.onDead(e.index);
    });
    return {
      close: () => {
        this.linkListeners.delete(listener);
        if (this.linkListeners.size === 0 && this.closeLinkThread) {
          this.closeLinkThread();
          this.closeLinkThread = undefined;
        }
      },
    };
  }

  async status(index: number, timeoutMs: number): Promise<NbdStatus> {
    checkIndex(index);
    const raw = await this.withModule(() => this.addon.nbdStatus(index, timeoutMs), timeoutMs);
    const dir = `/sys/block/nbd${index}`;
    const out: NbdStatus = { index, device: `/dev/nbd${index}`, connected: raw.connected };
    if (raw.connected) {
      const [pid, size, backend] = await Promise.all([sysfsValue(`${dir}/pid`), sysfsValue(`${dir}/size`), sysfsValue(`${dir}/backend`)]);
      if (pid !== undefined) out.pid = Number(pid);
      if (size !== undefined) out.sizeBytes = Number(size) * 512;
      if (backend) out.backend = backend;
    }
    return out;
  }
}
