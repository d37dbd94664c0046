// ScsiGeneric on Linux: each command is one SG_IO ioctl on a probe thread of the addon
// (native/sg_io.cc); DirectBlockIo is O_DIRECT pread/pwrite (native/direct_io.cc). Each device is
// its own probe key, so one dead LUN cannot use up the threads of another.
import { mapNativeError } from '../errors.js';
import type { DirectBlockIo } from '../platform.js';
import { ScsiCommands, type ScsiTransportRequest, type ScsiTransportResult } from '../scsi/commands.js';
import { loadNativeAddon } from './addon-loader.js';

export class LinuxScsiGeneric extends ScsiCommands {
  constructor() {
    const addon = loadNativeAddon();
    super(async (r: ScsiTransportRequest): Promise<ScsiTransportResult> => {
      try {
        return await addon.scsiCommand(r.device, r.cdb, r.direction, r.dataOut ?? null, r.dataInLength ?? 0, r.timeoutMs, `scsi:${r.device}`);
      } catch (err) {
        throw mapNativeError(err);
      }
    });
  }
}

export class LinuxDirectBlockIo implements DirectBlockIo {
  private readonly addon = loadNativeAddon();

  async read(device: string, offset: number, length: number, timeoutMs: number): Promise<Buffer> {
    try {
      return await this.addon.directRead(device, offset, length, timeoutMs, `direct:${device}`);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  async write(device: string, offset: number, data: Buffer, timeoutMs: number): Promise<void> {
    try {
      await this.addon.directWrite(device, offset, data, timeoutMs, `direct:${device}`);
    } catch (err) {
      throw mapNativeError(err);
    }
  }
}
