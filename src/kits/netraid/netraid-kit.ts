// scsi/netraid: the data-replication recovery kit. A resource is one NetRAID mirror between two
// systems; where it is in service (the primary) /dev/mdN is a RAID1 of the local partition and
// /dev/nbdN, connected to the NBD server vigild runs on the backup (replica-server.ts).
//
// Settings (the instance's info, the same on both systems): `number` (N of /dev/mdN),
// `partition@<system>` and `address@<system>` for each of the two systems, `port`, `type`; for
// the file-system types also `mountPoint`, `fsType`, `fsTag`, `options` (replicated-fs.ts).
//
// Safety rules, in the order restore applies them:
// 1. data_corrupt: a system that finds its own <TAG>_data_corrupt flag crashed while it was the
//    primary. It goes in service again only if the other system answers and has not taken over
//    since (its generation is not newer); unreachable: refused (104001) until the administrator
//    removes the flag — the seeds' scenarios 3 and 4.
// 2. A backup goes in service only if it is recorded as current (its last resync completed and no
//    write was missed since); otherwise refused with the reason (104013) — scenario 2 and the
//    cut link.
// 3. Every takeover raises the generation, recorded here before the mirror starts; the other
//    system's NBD server then refuses the previous primary (fencing at the replica).
// canFailoverNow vetoes moves while the mirror here is not in sync (a resync runs, or the backup
// is gone), with 104013.
// 4. When the replication link dies the kernel holds the primary's writes (mirror.ts, the gate in
//    outdate-gate.ts) until the backup confirmed over the cluster messaging that it recorded
//    itself out of date, or membership declared it dead (with quorum here) — so rule 2 never
//    finds a backup "current" that misses an acknowledged write, unless the hold's bound passed
//    (VIGIL_NETRAID_LINK_HOLD), which is logged as an error and counted.
// Messages to the backup about its state go one at a time, in order, so a late "current" can
// never overtake an "out of date".
//
// Types (`type`): `resource` (default) is the device alone; `new-fs` and `existing-fs` also put a
// file system on it under protection — their steps are in replicated-fs.ts, and the create task
// makes the gen/filesys resource above the device (parentsForCreate) and calls undoCreate when a
// later step fails.
import type { ActionContext, ActionResult, CheckDepth, Kit, ResourceInstance } from '../kit.js';
import { DEFAULT_TIME_LIMITS, failed, ok } from '../kit.js';
import type { BackupLink } from '../../replication/backup-link.js';
import type { ReplicationConfig } from '../../replication/config.js';
import { replicationErrorLine as err } from '../../replication/errors.js';
import { Mirror, type BackupFence, type MirrorPlatform } from '../../replication/mirror.js';
import type { HoldEnd } from '../../replication/outdate-gate.js';
import { statusWord, type MirrorView, type ResyncKind } from '../../replication/mirror-state.js';
import type { ReplicaServer } from '../../replication/replica-server.js';
import type { ReplicaStates } from '../../replication/replica-state.js';
import type { NetraidPeers } from './peer-messages.js';
import { filesysParent, fsSettings, fsSettingsProblem, FsStepError, netraidType, ReplicatedFs, type FsUndo, type ReplicatedFsPlatform } from './replicated-fs.js';

export const NETRAID_APP = 'scsi/netraid';
/** Time limit of mkfs on a new replicated file system. */
const MKFS_TIMEOUT_MS = 600_000;

export interface NetraidKitDeps {
  localSystem: string;
  /** md, NBD and block devices for the mirror; mounts and programs for the file-system types. */
  platform: MirrorPlatform & ReplicatedFsPlatform;
  config: ReplicationConfig;
  states: ReplicaStates;
  replica: ReplicaServer;
  peers: NetraidPeers;
  /** How the primary reaches the backup's export once the backup granted it. */
  linkTo(address: string, port: number, exportName: string): BackupLink;
  /** Loads a kernel module (modprobe, time-limited); rejects with 104022. */
  loadModule(name: string): Promise<void>;
  /** The fenced export name of (tag, generation, primary). */
  exportName(tag: string, generation: number, primary: string): string;
  /**
   * Whether membership declared `system` dead and this system may act on it (holds quorum when a
   * quorum mode is configured): a held mirror then goes on without that backup.
   */
  peerDeclaredDead?(system: string): boolean;
  /** A link hold ended (for vigil_replication_link_hold_seconds). */
  holdEnded?(tag: string, how: HoldEnd, heldMs: number): void;
  /** A resync of the backup half began here, partial or full (vigil_replication_resyncs_total). */
  resyncStarted?(tag: string, kind: ResyncKind): void;
  /** That resync completed after `ms` (vigil_replication_resync_duration_seconds). */
  resyncDone?(tag: string, kind: ResyncKind, ms: number): void;
}

interface Running {
  mirror: Mirror;
  peer: string;
  generation: number;
  view: MirrorView | undefined;
  /** The last message to the backup about its state: the next one goes after it. */
  told: Promise<unknown>;
}


export class NetraidKit implements Kit {
  readonly app = NETRAID_APP;
  // create may format a large device (new-fs): mkfs gets MKFS_TIMEOUT_MS of it.
  readonly timeLimits = { ...DEFAULT_TIME_LIMITS, restore: 180_000, create: MKFS_TIMEOUT_MS + 60_000 };
  readonly supportsRecover = false;
  readonly maxCheckDepth: CheckDepth = 0;
  readonly refusesAutomaticSwitchback =
    'a replicated resource (and anything that depends on it) is switched back by hand only: the returning system first becomes the backup and is resynchronized';
  private readonly running = new Map<string, Running>();
  /** What create changed for a file-system type, until the create task is over (undoCreate). */
  private readonly created = new Map<string, FsUndo>();
  private readonly fs: ReplicatedFs;

  constructor(private readonly d: NetraidKitDeps) {
    this.fs = new ReplicatedFs(d.platform, d.config.callTimeoutMs, MKFS_TIMEOUT_MS);
  }

  /** Whether the kernel holds the writes of `tag`'s mirror here (its replication link died). */
  holding(tag: string): boolean {
    return this.running.get(tag)?.mirror.holding ?? false;
  }

  /** Whether the mirror of `tag` runs here (the NBD server refuses to export it then). */
  inService(tag: string): boolean {
    return this.running.has(tag);
  }

  /**
   * vigild (re)started: a backup's NBD sessions ended with the old process and the primary may
   * have written without it since, so each backup here is out of date until a resync completes.
   */
  async systemStarted(tags: string[]): Promise<void> {
    for (const tag of tags) await this.d.states.markOutOfDate(tag, `${this.d.localSystem} restarted while it was the backup; the primary may have written since`);
  }

  /** vigild stops without taking resources out of service: stop following md, leave the arrays. */
  close(): void {
    for (const r of this.running.values()) r.mirror.close();
    this.running.clear();
  }

  validate(inst: ResourceInstance): ActionResult {
    const n = inst.info.number;
    if (n === undefined || !/^\d+$/.test(n) || Number(n) > 255) return failed('fatal', 'info.number must be a NetRAID number from 0 to 255');
    const systems = systemsOf(inst);
    if (systems.length === 0) return failed('fatal', 'info partition@<system> (the local partition) is not set');
    if (systems.length > 2) return failed('fatal', `a NetRAID device mirrors two systems only, not ${systems.length} (${systems.join(', ')})`);
    for (const s of systems) {
      if (!/^\/dev\/\S+$/.test(inst.info[`partition@${s}`]!)) return failed('fatal', `partition@${s} must be a device path such as /dev/sdb1`);
    }
    const type = netraidType(inst);
    if (type !== 'resource' && type !== 'new-fs' && type !== 'existing-fs') return failed('fatal', err(104051, [type], 'use type=resource, new-fs or existing-fs'));
    const fsProblem = fsSettingsProblem(inst, this.d.localSystem);
    if (fsProblem) return failed('fatal', fsProblem);
    const port = Number(inst.info.port ?? portFor(inst));
    if (!Number.isInteger(port) || port < 1 || port > 65535) return failed('fatal', `port must be a TCP port from 1 to 65535`);
    return ok();
  }

  /** new-fs and existing-fs: the gen/filesys resource on /dev/mdN, depending on this one. */
  parentsForCreate(inst: ResourceInstance): ResourceInstance[] {
    return filesysParent(inst);
  }

  async create(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const partition = inst.info[`partition@${ctx.system}`];
    if (!partition) return failed('fatal', err(104007, [inst.tag, ctx.system]));
    const fs = fsSettings(inst);
    const lines: string[] = [];
    this.created.delete(inst.tag);
    // Checks first (and for existing-fs the unmount): a refusal here has changed nothing.
    let undo: FsUndo | undefined;
    const md = `/dev/md${inst.info.number}`;
    if (await this.d.platform.md.exists(md, this.d.config.callTimeoutMs).catch(() => false)) {
      return failed('fatal', err(104010, [md, ctx.system], 'it exists already'));
    }
    if (fs) {
      try {
        undo = await this.fs.prepare(fs, partition, lines);
      } catch (e) {
        return failed('fatal', (e as Error).message);
      }
    }
    const mirror = this.mirrorOf(inst, ctx.system, partition, undefined, 0);
    lines.push(`netraid_create: Creating the RAID1 (${mirror.md}) device ...`);
    try {
      await this.loadModules();
      await mirror.create();
    } catch (e) {
      // mdadm made nothing: only what prepare changed goes back.
      const why = (e as Error).message;
      if (undo) await this.fs.undo(undo, lines).catch((u: Error) => lines.push(`warning: mounting ${partition} again: ${u.message}`));
      return failed('fatal', [why, ...lines.filter((l) => l.startsWith('Mounted ') || l.startsWith('warning'))].join('\n'));
    }
    lines.push(`netraid_create: ${partition} is configured to be mirrored through ${mirror.nbdDevice}`);
    if (fs && undo) {
      try {
        await this.fs.finish(fs, mirror.md, partition, lines);
      } catch (e) {
        const why = e instanceof FsStepError ? e.message : err(104054, [`${fs.type} on ${mirror.md}`], (e as Error).message);
        await this.putBack(inst, partition, undo, lines, ctx);
        return failed('fatal', [why, ...lines.filter((l) => l.startsWith('Mounted ') || l.startsWith('warning'))].join('\n'));
      }
      this.created.set(inst.tag, undo);
    }
    await this.d.states.put({ tag: inst.tag, role: 'primary', generation: 0, primary: ctx.system, current: true });
    const size = await this.d.platform.blockDevices.info(partition, this.d.config.callTimeoutMs);
    // The device alone is stopped again: restore (right after create) assembles it and starts
    // following md. With a file system it stays: the gen/filesys resource's create looks at it.
    if (!fs) await this.d.platform.md.stop(mirror.md, this.d.config.callTimeoutMs);
    return { ...ok(lines.join('\n')), info: { [`size@${ctx.system}`]: String(size.sizeBytes) } };
  }

  /**
   * The create task failed after create: the device goes (stopped, its md superblock erased, so
   * nothing assembles it again) and a file system that was mounted from the partition is mounted
   * there again. A partition formatted for new-fs stays formatted.
   */
  async undoCreate(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const partition = inst.info[`partition@${ctx.system}`];
    if (!partition) return failed('fatal', err(104007, [inst.tag, ctx.system]));
    const lines: string[] = [];
    const undo = this.created.get(inst.tag);
    this.created.delete(inst.tag);
    try {
      await this.putBack(inst, partition, undo, lines, ctx, true);
    } catch (e) {
      return failed('fatal', (e as Error).message);
    }
    await this.d.replica.unserve(inst.tag);
    await this.d.states.remove(inst.tag);
    if (undo?.type === 'new-fs') lines.push(`${partition} keeps the new (empty) file system made on it`);
    return ok(lines.join('\n'));
  }

  /** Stops the array, erases its superblock and puts back what prepare changed. */
  private async putBack(inst: ResourceInstance, partition: string, undo: FsUndo | undefined, lines: string[], ctx: ActionContext, strict = false): Promise<void> {
    const t = this.d.config.callTimeoutMs;
    const md = `/dev/md${inst.info.number}`;
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        problems.push(`${what}: ${(e as Error).message}`);
        ctx.log('error', `netraid: undoing the creation of ${inst.tag}: ${what}: ${(e as Error).message}`);
      }
    };
    await step(`stopping ${md}`, async () => {
      const run = this.running.get(inst.tag);
      this.running.delete(inst.tag);
      if (run) await run.mirror.delete();
      else if (await this.d.platform.md.exists(md, t)) await this.d.platform.md.stop(md, t);
    });
    await step(`erasing the md superblock of ${partition}`, () => this.d.platform.md.zeroSuperblock(partition, t));
    await this.d.states.clearDataCorruptFlag(inst.tag).catch(() => undefined);
    if (problems.length === 0) lines.push(`Removed ${md} from ${partition}`);
    if (undo) await step(`mounting ${partition} again`, () => this.fs.undo(undo, lines));
    for (const p of problems) lines.push(`warning: ${p}`);
    if (strict && problems.length) throw new Error(problems.join('; '));
  }

  async canExtend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const systems = systemsOf(inst);
    if (!systems.includes(ctx.system)) return failed('fatal', `partition@${ctx.system} is not set: name the target partition (-o partition@${ctx.system}=/dev/...)`);
    if (systems.length !== 2) return failed('fatal', 'a NetRAID device is extended to exactly one other system');
    if (!inst.info[`address@${ctx.system}`]) return failed('fatal', `address@${ctx.system} (the replication address of ${ctx.system}) is not set`);
    const mine = inst.info[`partition@${ctx.system}`]!;
    const source = systems.find((s) => s !== ctx.system)!;
    try {
      const here = await this.d.platform.blockDevices.info(mine, this.d.config.callTimeoutMs);
      const need = Number(inst.info[`size@${source}`] ?? 0);
      if (here.sizeBytes < need) {
        return failed('fatal', err(104012, [`/dev/md${inst.info.number}`, ctx.system, `the target partition ${mine} holds ${Math.floor(here.sizeBytes / 1024)} KiB, less than the source partition's ${Math.floor(need / 1024)} KiB`]));
      }
    } catch (e) {
      return failed('fatal', err(104009, [], `${mine}: ${(e as Error).message}`));
    }
    return ok();
  }

  async extend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    // Nothing is exported yet: the primary asks for the partition with its generation, and this
    // system records itself out of date until that copy completes (OSF until then).
    const peer = systemsOf(inst).find((s) => s !== ctx.system)!;
    await this.d.replica.extended(inst.tag, peer);
    const address = inst.info[`address@${ctx.system}`];
    return ok(
      [
        `netraid_extend: Running the nbd-server on "${ctx.system}" (${address} port ${portFor(inst)}) ...`,
        `netraid_extend: Running the nbd-client on "${peer}" ...`,
        `netraid_extend: Extending the RAID1 (/dev/md${inst.info.number}) device from "${peer}" to "${ctx.system}"...`,
        `netraid_extend: "${peer}:${inst.info[`partition@${peer}`]}" is being replicated to "${ctx.system}:${inst.info[`partition@${ctx.system}`]}"`,
      ].join('\n'),
    );
  }

  async unextend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    // A backup that is not current is (or was about to be) resynchronized: the seeds warn.
    const st = await this.d.states.get(inst.tag);
    const resyncing = st?.role === 'backup' && !st.current && this.d.replica.isServing(inst.tag);
    await this.d.replica.unserve(inst.tag);
    await this.d.states.remove(inst.tag);
    ctx.log('info', err(104019, [inst.tag, ctx.system]));
    return ok(resyncing ? `WARNING ${err(104025, [inst.tag, `/dev/md${inst.info.number}`]).slice('Error '.length)}` : '');
  }

  async delete(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    this.created.delete(inst.tag);
    const view = this.running.get(inst.tag)?.view;
    const resyncing = view?.state === 'resyncing';
    const r = await this.remove(inst, ctx);
    if (!r.ok) return r;
    await this.d.replica.unserve(inst.tag);
    await this.d.states.remove(inst.tag);
    return ok(resyncing ? `WARNING ${err(104026, [inst.tag, `/dev/md${inst.info.number}`]).slice('Error '.length)}` : '');
  }

  async restore(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    if (this.running.has(inst.tag)) return ok();
    const { states } = this.d;
    const me = ctx.system;
    const partition = inst.info[`partition@${me}`];
    if (!partition) return failed('fatal', err(104007, [inst.tag, me]));
    const peer = systemsOf(inst).find((s) => s !== me);
    const st = (await states.get(inst.tag)) ?? { tag: inst.tag, role: 'primary' as const, generation: 0, primary: me, current: true };
    let peerGeneration = -1;
    if (await states.hasDataCorruptFlag(inst.tag)) {
      // This system crashed while it was the primary: only the other system can tell whether it
      // took over since. No answer: the administrator decides (scenario 3).
      const answer = peer ? await this.d.peers.query(peer, inst.tag).catch(() => undefined) : undefined;
      if (!answer) return failed('fatal', err(104001, [inst.tag, states.dir, me]));
      if (answer.generation > st.generation || (answer.role === 'primary' && answer.generation >= st.generation && peer !== me && answer.inService)) {
        return failed('fatal', err(104013, [`/dev/md${inst.info.number}`, inst.tag, me, 'out of date'], `${peer} took the resource over at generation ${answer.generation} after this system's generation ${st.generation}`));
      }
      peerGeneration = answer.generation;
      await states.clearDataCorruptFlag(inst.tag);
    }
    if (st.role === 'backup' && !st.current) {
      return failed('fatal', err(104013, [`/dev/md${inst.info.number}`, inst.tag, me, 'out of date'], st.outOfDateReason ?? 'the backup does not hold every acknowledged write'));
    }
    const generation = Math.max(st.generation, peerGeneration) + 1;
    // Recorded (with the flag) before the array runs: a crash from here on is seen on return.
    await states.put({ tag: inst.tag, role: 'primary', generation, primary: me, current: true });
    await states.setDataCorruptFlag(inst.tag, me);
    await this.d.replica.unserve(inst.tag);
    let run: Running | undefined;
    const fence: BackupFence | undefined = peer
      ? {
          outdate: (reason) => this.inOrder(run, () => this.d.peers.outdate(peer, inst.tag, generation, reason)),
          current: () => this.inOrder(run, () => this.d.peers.current(peer, inst.tag, generation, me)),
          declaredDead: () => this.d.peerDeclaredDead?.(peer) ?? false,
        }
      : undefined;
    const mirror = this.mirrorOf(inst, me, partition, peer, generation, fence);
    try {
      await this.loadModules();
      if (!(await this.d.platform.md.exists(mirror.md, this.d.config.callTimeoutMs))) {
        await this.d.platform.md.assemble(mirror.md, [partition], this.d.config.callTimeoutMs);
      }
      const r: Running = { mirror, peer: peer ?? '', generation, view: undefined, told: Promise.resolve() };
      run = r;
      this.running.set(inst.tag, r);
      mirror.on('state', (v) => (r.view = v));
      mirror.on('error', (e) => ctx.log('warn', `netraid: ${mirror.md}: ${e.message}`));
      mirror.on('notice', (n) => ctx.log(n.level, `netraid: ${n.message}`));
      mirror.on('hold-ended', (h) => this.d.holdEnded?.(inst.tag, h.how, h.heldMs));
      mirror.on('resync-started', (r) => this.d.resyncStarted?.(inst.tag, r.kind));
      mirror.on('resync-done', (r) => this.d.resyncDone?.(inst.tag, r.kind, r.ms));
      mirror.on('backup-stale', () => this.tellPeer(r, inst.tag, 'stale', ctx));
      mirror.on('backup-current', () => this.tellPeer(r, inst.tag, 'current', ctx));
      await mirror.watch();
    } catch (e) {
      this.running.delete(inst.tag);
      mirror.close();
      await states.clearDataCorruptFlag(inst.tag);
      return failed('move-elsewhere', err(104010, [mirror.md, me], (e as Error).message));
    }
    return ok();
  }

  /** md's raid1 and the NBD client, as netraid_extend loads them. */
  private async loadModules(): Promise<void> {
    await this.d.loadModule('raid1');
    await this.d.loadModule('nbd');
  }

  private tellPeer(run: Running, tag: string, what: 'stale' | 'current', ctx: ActionContext): void {
    if (!run.peer) return;
    const p = this.inOrder(run, () =>
      what === 'stale'
        ? this.d.peers.outdate(run.peer, tag, run.generation, `${ctx.system} lost its backup half at generation ${run.generation}`)
        : this.d.peers.current(run.peer, tag, run.generation, ctx.system),
    );
    p.catch((e: Error) => ctx.log('warn', `netraid: telling ${run.peer} that ${tag} is ${what}: ${e.message}`));
  }

  /** Runs `send` after the previous message to this mirror's backup settled. */
  private inOrder<T>(run: Running | undefined, send: () => Promise<T>): Promise<T> {
    if (!run) return send();
    const p = run.told.then(send, send);
    run.told = p.catch(() => undefined);
    return p;
  }

  async remove(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const run = this.running.get(inst.tag);
    const md = `/dev/md${inst.info.number}`;
    try {
      if (run) {
        this.running.delete(inst.tag);
        await run.mirror.delete();
      } else if (await this.d.platform.md.exists(md, this.d.config.callTimeoutMs)) {
        await this.d.platform.md.stop(md, this.d.config.callTimeoutMs);
      }
    } catch (e) {
      return failed('retry-here', (e as Error).message);
    }
    // The flag goes only with a clean take-out by the process that ran the mirror. A mirror this
    // process did not run (the cleanup at agent start after a crash of vigild or of the machine)
    // was in service when its primary went away uncleanly: the other system may have taken over
    // since, so the flag must stay for restore's check (and the administrator).
    if (run) await this.d.states.clearDataCorruptFlag(inst.tag);
    ctx.log('info', `netraid: ${md} stopped on ${ctx.system}`);
    return ok();
  }

  async quickCheck(inst: ResourceInstance, _depth: CheckDepth, _ctx: ActionContext): Promise<ActionResult> {
    const run = this.running.get(inst.tag);
    if (!run) return failed('move-elsewhere', `${inst.tag}: the NetRAID device is not running here`);
    const s = await run.mirror.status();
    if (s.state === 'absent') return failed('move-elsewhere', `${run.mirror.md} is gone`);
    if (s.local !== 'in-sync') return failed('move-elsewhere', `${run.mirror.md}: the local partition has failed (${s.state})`);
    return ok();
  }

  async recover(inst: ResourceInstance): Promise<ActionResult> {
    return failed('move-elsewhere', `${inst.tag}: no local recovery for a NetRAID device`);
  }

  canFailoverNow(inst: ResourceInstance): { ok: boolean; reason: string } {
    const run = this.running.get(inst.tag);
    if (!run) return { ok: true, reason: '' };
    const v = run.view;
    if (v && v.state === 'mirroring') return { ok: true, reason: '' };
    const status = v ? statusWord(v) : 'Broken';
    return { ok: false, reason: err(104013, [run.mirror.md, inst.tag, this.d.localSystem, status]) };
  }

  /**
   * Membership saw `system` alive again (or restarted): each mirror in service here whose backup
   * it is tries to reattach it now rather than at the end of its reconnect back-off.
   */
  peerAlive(system: string): void {
    for (const run of this.running.values()) if (run.peer === system) run.mirror.backupReturned();
  }

  /**
   * md's rate of the resync of `tag`'s mirror here, in bytes/s (0 when none runs); undefined
   * when the mirror does not run here. Asks md only while the mirror is resyncing.
   */
  async resyncRate(tag: string): Promise<number | undefined> {
    const run = this.running.get(tag);
    if (!run) return undefined;
    if (run.view?.state !== 'resyncing') return 0;
    return run.mirror.resyncRate();
  }

  /** The mirror's view here, for lcdstatus and metrics. */
  view(tag: string): MirrorView | undefined {
    return this.running.get(tag)?.view;
  }

  private mirrorOf(inst: ResourceInstance, me: string, partition: string, peer: string | undefined, generation: number, fence?: BackupFence): Mirror {
    const number = Number(inst.info.number);
    const link: BackupLink | undefined = peer
      ? {
          address: `${inst.info[`address@${peer}`] ?? peer}:${portFor(inst)}`,
          connect: async (timeoutMs) => {
            const reply = await this.d.peers.serve(peer, {
              tag: inst.tag,
              generation,
              primary: me,
              partition: inst.info[`partition@${peer}`] ?? '',
              address: inst.info[`address@${peer}`] ?? '',
              port: portFor(inst),
            });
            if (!reply.ok) throw new Error(`${peer} refused to serve ${inst.tag}: ${reply.reason}`);
            return this.d.linkTo(reply.address, reply.port, this.d.exportName(inst.tag, generation, me)).connect(timeoutMs);
          },
        }
      : undefined;
    return new Mirror(this.d.platform, { number, localPartition: partition, localSystem: me, backupSystem: peer }, this.d.config, link, fence);
  }
}

/** The systems named by partition@<system> keys, sorted. */
export function systemsOf(inst: ResourceInstance): string[] {
  return Object.keys(inst.info)
    .filter((k) => k.startsWith('partition@'))
    .map((k) => k.slice('partition@'.length))
    .sort();
}

export function portFor(inst: ResourceInstance): number {
  return inst.info.port ? Number(inst.info.port) : 10_000 + Number(inst.info.number ?? 0);
}
