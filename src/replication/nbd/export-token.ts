// Fencing tokens carried in the NBD export name. The export name a client must present is
//   <mirror>:<generation>:<client system>:<token>
// where token = first 16 bytes (hex) of HMAC-SHA256 over "mirror\0generation\0system", keyed
// with a key derived (HKDF) from the cluster secret for this one purpose. Carrying it in the
// export name keeps the handshake standard: any NBD client (the kernel's nbd-client, qemu,
// libnbd) that is given the right name gets in, and nothing else does. The generation grows at
// every change of primary, so a name minted for an earlier primary is refused by the replica.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { VigilError } from '../../common/errors.js';

const TOKEN_SALT = Buffer.from('vigil nbd export token v1');
const TOKEN_BYTES = 16;

export interface ExportIdentity {
  mirror: string;
  generation: number;
  clientSystem: string;
}

export interface ParsedExportName extends ExportIdentity {
  token: string;
}

/** Mirror tags and system names never contain ':' or NUL, so the name splits unambiguously. */
const FIELD = /^[^:\u0000]+$/;

export class ExportTokenKey {
  private readonly key: Buffer;

  constructor(clusterSecret: Buffer) {
    if (clusterSecret.length < 16) throw new VigilError(0, `an NBD token key needs a cluster secret of at least 16 bytes, got ${clusterSecret.length}`);
    this.key = Buffer.from(hkdfSync('sha256', clusterSecret, TOKEN_SALT, Buffer.from('nbd-export'), 32));
  }

  token(id: ExportIdentity): string {
    checkIdentity(id);
    return createHmac('sha256', this.key)
      .update(`${id.mirror}\u0000${id.generation}\u0000${id.clientSystem}`)
      .digest()
      .subarray(0, TOKEN_BYTES)
      .toString('hex');
  }

  /** The export name a client of `id` presents in NBD_OPT_GO / NBD_OPT_EXPORT_NAME. */
  exportName(id: ExportIdentity): string {
    return `${id.mirror}:${id.generation}:${id.clientSystem}:${this.token(id)}`;
  }

  /** True when the token was made with this key for exactly these fields (constant-time compare). */
  verify(parsed: ParsedExportName): boolean {
    const expected = Buffer.from(this.token(parsed), 'hex');
    const given = Buffer.from(parsed.token, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** Splits an export name into its fields; undefined when it is not of the tokened form. */
export function parseExportName(name: string): ParsedExportName | undefined {
  const parts = name.split(':');
  if (parts.length !== 4) return undefined;
  const [mirror, gen, clientSystem, token] = parts as [string, string, string, string];
  if (!FIELD.test(mirror) || !FIELD.test(clientSystem)) return undefined;
  if (!/^(0|[1-9][0-9]{0,14})$/.test(gen)) return undefined;
  if (!/^[0-9a-f]{32}$/.test(token)) return undefined;
  return { mirror, generation: Number(gen), clientSystem, token };
}

function checkIdentity(id: ExportIdentity): void {
  if (!FIELD.test(id.mirror)) throw new VigilError(0, `mirror name "${id.mirror}" cannot be used in an NBD export name (empty, or contains ':')`);
  if (!FIELD.test(id.clientSystem)) throw new VigilError(0, `system name "${id.clientSystem}" cannot be used in an NBD export name (empty, or contains ':')`);
  if (!Number.isSafeInteger(id.generation) || id.generation < 0 || id.generation > 999_999_999_999_999) {
    throw new VigilError(0, `mirror generation ${id.generation} is not a non-negative integer below 10^15`);
  }
}
