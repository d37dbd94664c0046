// Which client may open which export: the replica's view of each mirror's current generation
// and primary, and the decision on an export name presented in the handshake. No I/O. A name
// is admitted only when its token verifies under the cluster key AND its generation and client
// system are exactly the current ones; everything else gets an NBD error reply with a reason
// that is counted (a stale primary shows up as `stale-generation`).
import { VigilError } from '../../common/errors.js';
import { NBD_REP_ERR_POLICY, NBD_REP_ERR_UNKNOWN } from './protocol.js';
import { type ExportTokenKey, parseExportName } from './export-token.js';

export type RefusalReason = 'malformed-name' | 'unknown-export' | 'bad-token' | 'stale-generation' | 'future-generation' | 'not-primary';

export interface MirrorEpoch {
  generation: number;
  primary: string;
}

export type Admission<T> =
  | { ok: true; mirror: string; generation: number; clientSystem: string; target: T }
  | { ok: false; reason: RefusalReason; replyType: number; message: string };

export class ExportFence<T> {
  private readonly mirrors = new Map<string, MirrorEpoch & { target: T }>();

  constructor(private readonly key: ExportTokenKey) {}

  /** Registers a mirror's export, or moves it to a new epoch; generations never go back. */
  set(mirror: string, epoch: MirrorEpoch, target: T): void {
    const old = this.mirrors.get(mirror);
    if (old && epoch.generation < old.generation) {
      throw new VigilError(0, `mirror ${mirror}: generation ${epoch.generation} is older than the current ${old.generation}`, { mirror });
    }
    if (old && epoch.generation === old.generation && epoch.primary !== old.primary) {
      throw new VigilError(0, `mirror ${mirror}: generation ${epoch.generation} already belongs to primary ${old.primary}, not ${epoch.primary}`, { mirror });
    }
    this.mirrors.set(mirror, { ...epoch, target });
  }

  get(mirror: string): (MirrorEpoch & { target: T }) | undefined {
    return this.mirrors.get(mirror);
  }

  delete(mirror: string): boolean {
    return this.mirrors.delete(mirror);
  }

  mirrorNames(): string[] {
    return [...this.mirrors.keys()].sort();
  }

  /** True while (generation, client) is still the mirror's current epoch. */
  isCurrent(mirror: string, generation: number, clientSystem: string): boolean {
    const m = this.mirrors.get(mirror);
    return m !== undefined && m.generation === generation && m.primary === clientSystem;
  }

  admit(exportName: string): Admission<T> {
    const parsed = parseExportName(exportName);
    if (!parsed) {
      return refuse('malformed-name', NBD_REP_ERR_POLICY, 'export names have the form <mirror>:<generation>:<system>:<token>');
    }
    const m = this.mirrors.get(parsed.mirror);
    if (!m) return refuse('unknown-export', NBD_REP_ERR_UNKNOWN, `no mirror ${parsed.mirror} is exported here`);
    // The token is checked before the epoch so that a forged name learns nothing about it.
    if (!this.key.verify(parsed)) return refuse('bad-token', NBD_REP_ERR_POLICY, 'the fencing token does not verify under the cluster key');
    if (parsed.generation < m.generation) {
      return refuse('stale-generation', NBD_REP_ERR_POLICY, `stale mirror generation ${parsed.generation}; the current generation is ${m.generation}`);
    }
    if (parsed.generation > m.generation) {
      return refuse('future-generation', NBD_REP_ERR_POLICY, `mirror generation ${parsed.generation} is newer than this replica's ${m.generation}`);
    }
    if (parsed.clientSystem !== m.primary) {
      return refuse('not-primary', NBD_REP_ERR_POLICY, `${parsed.clientSystem} is not the primary of generation ${m.generation}`);
    }
    return { ok: true, mirror: parsed.mirror, generation: parsed.generation, clientSystem: parsed.clientSystem, target: m.target };
  }
}

function refuse<T>(reason: RefusalReason, replyType: number, message: string): Admission<T> {
  return { ok: false, reason, replyType, message };
}
