// The backup's side of every NetRAID mirror on this system: decides whether a primary may have
// this system's partition (fencing by generation, where the data is), records the decision
// durably, and exports the partition on the replication address through the NBD server (one
// server per listening address, started on first use). A request is granted only when its
// generation is newer than any this system has seen, or is exactly the current one from the
// current primary; a stale primary (a lower generation, or the same generation from another
// system) is refused, and so is any request while the resource is in service here.
import { replicationError } from './errors.js';
import type { MirrorExport } from './nbd/server.js';
import type { ReplicaStates } from './replica-state.js';

/** The part of NbdServerThread this uses (tests pass a recording double). */
export interface ExportServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  exportMirror(spec: MirrorExport): Promise<void>;
  unexportMirror(mirror: string): Promise<void>;
  close(): Promise<void>;
}

export interface ServeRequest {
  tag: string;
  generation: number;
  primary: string;
  /** This system's partition and replication address, from the resource's settings. */
  partition: string;
  address: string;
  port: number;
}

export type ServeReply = { ok: true; address: string; port: number } | { ok: false; reason: string };

export interface ReplicaServerOptions {
  localSystem: string;
  states: ReplicaStates;
  /** A new NBD server for one listening address. */
  newServer(): ExportServer;
  /** Whether the resource is in service here (then nobody else may write its partition). */
  inServiceHere(tag: string): boolean;
  /** Whether the resource is extended to this system at all (unextended: nothing is served). */
  knows(tag: string): boolean;
  /** This backup became out of date (with the reason) or current: for its instance state (OSF/OSU). */
  onBackupState?(tag: string, current: boolean, reason: string): void;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export class ReplicaServer {
  private readonly servers = new Map<string, Promise<ExportServer>>();
  /** Which server exports which tag now. */
  private readonly exported = new Map<string, string>();

  constructor(private readonly o: ReplicaServerOptions) {}

  /** A primary asks for this system's partition. Decides, records, exports. */
  async serve(req: ServeRequest): Promise<ServeReply> {
    const { states, localSystem } = this.o;
    if (!this.o.knows(req.tag)) return { ok: false, reason: `${req.tag} is not extended to ${localSystem}` };
    if (this.o.inServiceHere(req.tag)) return { ok: false, reason: `${req.tag} is in service on ${localSystem}; it cannot be a backup of ${req.primary}` };
    const st = await states.get(req.tag);
    if (st && req.generation < st.generation) {
      return { ok: false, reason: `stale primary: ${req.primary} asks with generation ${req.generation}, ${localSystem} already follows generation ${st.generation} of ${st.primary}` };
    }
    if (st && req.generation === st.generation && req.primary !== st.primary) {
      return { ok: false, reason: `generation ${req.generation} belongs to ${st.primary}, not ${req.primary}` };
    }
    if (!st || req.generation > st.generation || st.role !== 'backup') {
      // A new generation: this partition now follows req.primary and holds nothing it can vouch
      // for until the primary's copy completes. Recorded before anything is exported.
      await states.put({
        tag: req.tag,
        role: 'backup',
        generation: req.generation,
        primary: req.primary,
        current: false,
        outOfDateReason: `resynchronization from ${req.primary} (generation ${req.generation}) has not completed`,
      });
      // Whatever this system ran as a primary is superseded by the newer generation.
      await states.clearDataCorruptFlag(req.tag);
      this.o.onBackupState?.(req.tag, false, `resynchronization from ${req.primary} (generation ${req.generation}) has not completed`);
    }
    const server = await this.serverFor(req.address, req.port);
    const key = `${req.address}:${req.port}`;
    await server.exportMirror({ mirror: req.tag, path: req.partition, generation: req.generation, primary: req.primary });
    this.exported.set(req.tag, key);
    this.o.log?.('info', `netraid: exporting ${req.partition} of ${req.tag} to ${req.primary} (generation ${req.generation}) on ${key}`, { tag: req.tag });
    return { ok: true, address: req.address, port: req.port };
  }

  /**
   * extend: this system becomes the backup of `tag`. Nothing is exported until the primary asks
   * (serve); the copy is out of date until the first resynchronization from `primary` completes,
   * and the instance shows so (OSF) from the start, not only once the primary has asked.
   */
  async extended(tag: string, primary: string): Promise<void> {
    const reason = `the first resynchronization from ${primary} has not completed`;
    await this.o.states.put({ tag, role: 'backup', generation: 0, primary, current: false, outOfDateReason: reason });
    this.o.onBackupState?.(tag, false, reason);
  }

  /** The primary reports that the backup missed (or may have missed) a write. */
  async outdate(tag: string, generation: number, reason: string): Promise<void> {
    const st = await this.o.states.get(tag);
    if (!st || st.role !== 'backup' || generation < st.generation) return;
    await this.o.states.markOutOfDate(tag, reason);
    this.o.onBackupState?.(tag, false, reason);
    this.o.log?.('warn', `netraid: ${tag} on ${this.o.localSystem} is out of date: ${reason}`, { tag });
  }

  /** The primary reports a completed resync at `generation`: this copy is whole. */
  async markCurrent(tag: string, generation: number, primary: string): Promise<boolean> {
    const st = await this.o.states.get(tag);
    if (!st || st.role !== 'backup' || st.generation !== generation || st.primary !== primary) return false;
    await this.o.states.put({ tag, role: 'backup', generation, primary, current: true });
    this.o.onBackupState?.(tag, true, '');
    return true;
  }

  /** Stops exporting `tag` (the resource goes in service here, or is unextended). */
  async unserve(tag: string): Promise<void> {
    const key = this.exported.get(tag);
    if (!key) return;
    this.exported.delete(tag);
    const server = await this.servers.get(key);
    await server?.unexportMirror(tag).catch((err: Error) => this.o.log?.('warn', `netraid: unexport of ${tag}: ${err.message}`));
  }

  isServing(tag: string): boolean {
    return this.exported.has(tag);
  }

  async close(): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    this.exported.clear();
    for (const s of all) await (await s.catch(() => undefined))?.close().catch(() => undefined);
  }

  private serverFor(address: string, port: number): Promise<ExportServer> {
    const key = `${address}:${port}`;
    let p = this.servers.get(key);
    if (!p) {
      p = (async () => {
        const server = this.o.newServer();
        try {
          await server.listen(address, port);
        } catch (err) {
          await server.close().catch(() => undefined);
          throw replicationError(104012, [`on ${key}`, 'this system', `the NBD server cannot listen there: ${(err as Error).message}`], { address, port }, err);
        }
        return server;
      })();
      this.servers.set(key, p);
      p.catch(() => this.servers.delete(key));
    }
    return p;
  }
}
