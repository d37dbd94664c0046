// The cluster key: one 256-bit secret shared by every node, kept in a root-only file. Frame keys
// are never the raw secret. HKDF derives two kinds:
//  - hello keys, per (sender, receiver, sender boot epoch): they seal only the Hello that opens a
//    session and carries the sender's fresh nonce;
//  - session keys, per (sender, receiver, sender nonce, receiver nonce): they seal everything else.
// Both sides contribute a fresh random nonce to every session (every TCP connection, every
// opening of a serial line), so a frame recorded in an earlier session never authenticates in a
// later one, even after the receiver restarted and forgot what it had seen.
import { hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, openSync, readFileSync, renameSync, writeSync, constants } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { VigilError } from '../common/errors.js';

export const CLUSTER_KEY_BYTES = 32;
export const DEFAULT_KEY_FILE = '/etc/vigil/cluster.key';
const KEY_FILE_HEADER = 'vigil-cluster-key-v1';
const HKDF_SALT = Buffer.from('vigil cluster frame key v2');
/** Bytes of the random nonce each side contributes to a session. */
export const SESSION_NONCE_BYTES = 16;

/** A fresh random cluster secret. */
export function generateClusterSecret(): Buffer {
  return randomBytes(CLUSTER_KEY_BYTES);
}

/** The file's text: a header word then the secret in hex, so a truncated or foreign file is refused. */
export function formatKeyFile(secret: Buffer): string {
  return `${KEY_FILE_HEADER} ${secret.toString('hex')}\n`;
}

/**
 * Writes the key file with mode 0600 atomically (temp file + rename), refusing to replace an
 * existing key unless `overwrite` (replacing the key on one node cuts it off the cluster).
 */
export function writeKeyFile(path: string, secret: Buffer, overwrite = false): void {
  if (!overwrite) {
    try {
      readFileSync(path);
      throw new VigilError(0, `key file ${path} already exists; use --force to replace it`, { path });
    } catch (e) {
      if (e instanceof VigilError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  // O_EXCL + mode 0600 at creation: the secret is never readable by others, not even briefly.
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, formatKeyFile(secret));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Reads and checks the key file: right format, and not readable by group or others. */
export function readKeyFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    throw new VigilError(0, `cannot open cluster key file ${path}: ${(e as Error).message}`, { path }, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if ((st.mode & 0o077) !== 0) {
      throw new VigilError(0, `cluster key file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); it must be 0600`, { path });
    }
    const text = readFileSync(fd, 'utf8').trim();
    const m = /^vigil-cluster-key-v1 ([0-9a-f]{64})$/.exec(text);
    if (!m) throw new VigilError(0, `cluster key file ${path} is not a vigil cluster key (expected "${KEY_FILE_HEADER} <64 hex digits>")`, { path });
    return Buffer.from(m[1]!, 'hex');
  } finally {
    closeSync(fd);
  }
}

/** Derives and caches the per-direction, per-boot frame keys. */
export class ClusterKey {
  private readonly secret: Buffer;
  private readonly cache = new Map<string, Buffer>();
  private readonly cacheLimit: number;

  constructor(secret: Buffer, cacheLimit = 256) {
    if (secret.length !== CLUSTER_KEY_BYTES) throw new VigilError(0, `a cluster key is ${CLUSTER_KEY_BYTES} bytes, got ${secret.length}`);
    this.secret = Buffer.from(secret);
    this.cacheLimit = cacheLimit;
  }

  /** Key for the Hello frames from `sender` (booted with `epoch`) to `receiver`. */
  helloKey(sender: string, receiver: string, epoch: bigint): Buffer {
    const id = `${sender}\u0000${receiver}\u0000${epoch}`;
    const hit = this.cache.get(id);
    if (hit) return hit;
    const key = Buffer.from(hkdfSync('sha256', this.secret, HKDF_SALT, Buffer.from(`hello|${id}`), 32));
    // Bounded so that frames with forged epochs cannot grow memory; insertion order evicts oldest.
    if (this.cache.size >= this.cacheLimit) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, key);
    return key;
  }

  /**
   * Key for the session frames from `sender` to `receiver` in the session where the sender
   * contributed `senderNonce` and the receiver `receiverNonce`. Not cached: a session holds its
   * two keys for its lifetime.
   */
  sessionKey(sender: string, receiver: string, senderNonce: Buffer, receiverNonce: Buffer): Buffer {
    if (senderNonce.length !== SESSION_NONCE_BYTES || receiverNonce.length !== SESSION_NONCE_BYTES) {
      throw new RangeError(`session nonces are ${SESSION_NONCE_BYTES} bytes`);
    }
    const info = Buffer.concat([Buffer.from(`session|${sender}\u0000${receiver}\u0000`), senderNonce, receiverNonce]);
    return Buffer.from(hkdfSync('sha256', this.secret, HKDF_SALT, info, 32));
  }
}
