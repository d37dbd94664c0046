// PeerCredentials over the addon's peerCredentials (native/peer_cred.cc, SO_PEERCRED); this file
// only maps the addon's errno-carrying Errors to SysError.
import { mapNativeError } from '../errors.js';
import type { PeerCredential, PeerCredentials } from '../platform.js';
import { loadNativeAddon } from './addon-loader.js';

export class LinuxPeerCredentials implements PeerCredentials {
  private readonly addon = loadNativeAddon();

  of(fd: number): PeerCredential {
    try {
      const { pid, uid, gid } = this.addon.peerCredentials(fd);
      return { pid, uid, gid };
    } catch (err) {
      throw mapNativeError(err);
    }
  }
}
