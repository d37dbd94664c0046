// The NBD server's data path on Linux: the transmission phase of a connection on the addon's
// native threads (native/nbd_server.cc). Validates what it hands over, so bad input fails here
// with a clear error and starts nothing; syscall failures arrive as SysError.
import { mapNativeError } from '../errors.js';
import type { NbdDataPath, NbdServedConnection, NbdServeEvents, NbdServeSpec } from '../platform.js';
import { loadNativeAddon } from './addon-loader.js';
import type { NativeAddon } from './native-addon.js';

function checkFd(name: string, fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`NBD data path: ${name} must be a descriptor number, not ${fd}`);
}

export class LinuxNbdDataPath implements NbdDataPath {
  private readonly addon: NativeAddon = loadNativeAddon();

  serve(spec: NbdServeSpec, events: NbdServeEvents): NbdServedConnection {
    checkFd('socketFd', spec.socketFd);
    checkFd('fd', spec.fd);
    checkFd('dsyncFd', spec.dsyncFd);
    if (!Number.isSafeInteger(spec.sizeBytes) || spec.sizeBytes < 0) throw new RangeError(`NBD data path: sizeBytes must be a whole number of bytes, not ${spec.sizeBytes}`);
    if (spec.ioThreads !== undefined && (!Number.isInteger(spec.ioThreads) || spec.ioThreads < 1 || spec.ioThreads > 16)) {
      throw new RangeError(`NBD data path: ioThreads must be 1 to 16, not ${spec.ioThreads}`);
    }
    try {
      return this.addon.nbdServeStart(spec, (event) => {
        if (event.kind === 'released') events.onReleased(event.counters);
        else events.onEnd(event);
      });
    } catch (err) {
      throw mapNativeError(err);
    }
  }
}
