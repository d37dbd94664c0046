// The in-memory twin of md and NBD for unit tests: block devices, RAID1 arrays with a
// write-intent bitmap, NBD devices backed by a pretend server, and fault hooks — a device that
// fails its I/O (a dead disk, or an NBD server that vanished or a cut link once the I/O time-out
// passes), md calls that hang or fail with an errno. Resync and recovery progress on a timer at
// the array's speed limit, copying only the bitmap's dirty chunks after a re-add, as md does.
// Calls go through the same probe-runner time limits as the native addon.
import { SysError } from '../errors.js';
import type {
  DevNumber,
  MdArrayInfo,
  MdBitmapInfo,
  MdControl,
  MdCreateSpec,
  MdEvent,
  MdMember,
  MdSyncAction,
  MdSyncStatus,
  MdWatcher,
  NbdAttachOptions,
  NbdControl,
  NbdLinkWatcher,
  NbdStatus,
} from '../platform.js';
import { ProgramError } from '../program-error.js';
// The superblock, bad-block log and bitmap space md 1.0 keeps at the end of each member, as mdadm
// computes it (the kit's fit check for an existing file system uses the same arithmetic).
import { mdDataSizeBytes } from '../md-layout.js';
import type { MemoryProbeRunner } from './probe-runner.js';

const NBD_MAJOR = 43;
const DISK_MAJOR = 254;
/** md's "system" resync ceiling (/proc/sys/dev/raid/speed_limit_max). */
const SYSTEM_SPEED_KIB = 200_000;
const TICK_MS = 10;

interface Device {
  path: string;
  sizeBytes: number;
  dev: DevNumber;
  failed: boolean;
  /** Sectors written to the device (what /sys/block/X/stat counts). */
  writtenSectors: number;
  /** The array this device carries a superblock of, with its role and the events it saw last. */
  superblock?: { md: string; uuid: number; raidDisk: number; number: number; events: number };
}

interface Member {
  number: number;
  path: string;
  raidDisk: number;
  faulty: boolean;
  sync: boolean;
  flags: Set<string>;
}

interface ArrayState {
  md: string;
  uuid: number;
  raidDisks: number;
  sizeBytes: number;
  members: Member[];
  bitmapChunkBytes?: number;
  /** Chunks written while some member was missing or out of sync. */
  dirtyChunks: Set<number>;
  events: number;
  action: MdSyncAction;
  done: number;
  total: number;
  /** The member being recovered and the chunks it still needs (undefined: all of them). */
  recovering?: { number: number; chunks?: number[] };
  /** Bytes the running recovery copied (skipped clean chunks not counted) and when it began: sync_speed. */
  copied: number;
  startedAt: number;
  speedMaxKiB: number | 'system';
  watchers: Set<(e: MdEvent) => void>;
  timer?: NodeJS.Timeout;
}

interface NbdDevice {
  index: number;
  connected: boolean;
  sizeBytes: number;
  pid?: number;
  backend?: string;
  deadConnTimeoutSec: number;
  /** The connection died and requests wait for a new one (at most deadConnTimeoutSec). */
  held?: { waiters: Array<() => void>; timer: NodeJS.Timeout };
}

type Fault = { kind: 'hang'; path: string; release: () => void; released: Promise<void> } | { kind: 'fail'; path: string; code: string; syscall?: string };

function sectors(bytes: number): number {
  return Math.floor(bytes / 512);
}

/** The shared "kernel" behind MemoryMdControl and MemoryNbdControl. */
export class MemoryReplicationKernel {
  private readonly devices = new Map<string, Device>();
  private readonly arrays = new Map<string, ArrayState>();
  private readonly nbds = new Map<number, NbdDevice>();
  private readonly linkWatchers = new Set<(index: number) => void>();
  private faults: Fault[] = [];
  private nextMinor = 0;
  private nextUuid = 1;
  /** Arguments of every mdadm-equivalent run, for tests that check what would have been run. */
  readonly programRuns: string[][] = [];

  constructor() {
    for (let i = 0; i < 16; i++) {
      this.nbds.set(i, { index: i, connected: false, sizeBytes: 0, deadConnTimeoutSec: 0 });
      this.devices.set(`/dev/nbd${i}`, { path: `/dev/nbd${i}`, sizeBytes: 0, dev: { major: NBD_MAJOR, minor: i * 32 }, failed: false, writtenSectors: 0 });
    }
  }

  /** A local disk or partition. */
  addBlockDevice(path: string, sizeBytes: number): this {
    this.devices.set(path, { path, sizeBytes, dev: { major: DISK_MAJOR, minor: this.nextMinor++ * 16 }, failed: false, writtenSectors: 0 });
    return this;
  }

  // ---- fault hooks ----

  /** Every I/O on the device fails from now on (a dead disk; an NBD device whose server is gone). */
  failDevice(path: string): this {
    const d = this.device(path);
    d.failed = true;
    for (const a of this.arrays.values()) {
      const m = a.members.find((x) => x.path === path && !x.faulty);
      if (m) this.markFaulty(a, m);
    }
    return this;
  }

  /** The NBD server of /dev/nbdN vanished (killed, or the link is cut past the I/O time-out). */
  serverGone(index: number): this {
    return this.failDevice(`/dev/nbd${index}`);
  }

  /**
   * The connection of /dev/nbdN died (RST, or a silent cut once the I/O time-out passed), as the
   * kernel sees it: the LINK_DEAD notice goes out; with a dead-connection time-out the device
   * holds its requests until reconnect(), detach() or the time-out (then it fails, as
   * serverGone); without one it fails at once.
   */
  linkDead(index: number): this {
    const n = this.nbd(index);
    if (!n.connected || n.held) return this;
    for (const w of this.linkWatchers) queueMicrotask(() => w(index));
    if (n.deadConnTimeoutSec === 0) return this.failDevice(`/dev/nbd${index}`);
    const timer = setTimeout(() => this.endHold(index, true), n.deadConnTimeoutSec * 1000);
    timer.unref();
    n.held = { waiters: [], timer };
    return this;
  }

  /** Whether /dev/nbdN holds requests for a dead connection. */
  isHeld(index: number): boolean {
    return this.nbd(index).held !== undefined;
  }

  private endHold(index: number, fail: boolean): void {
    const n = this.nbd(index);
    const h = n.held;
    if (!h) return;
    clearTimeout(h.timer);
    n.held = undefined;
    if (fail) this.failDevice(`/dev/nbd${index}`);
    for (const w of h.waiters) w();
  }

  /** md calls on this md device (or device) hang until release(path). */
  hang(path: string): this {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.faults.push({ kind: 'hang', path, release, released });
    return this;
  }

  release(path: string): this {
    for (const f of this.faults) if (f.kind === 'hang' && f.path === path) f.release();
    this.faults = this.faults.filter((f) => !(f.kind === 'hang' && f.path === path));
    return this;
  }

  /** Calls on `path` (only `syscall` ones when given, e.g. 'write sync_speed_max') fail with this errno. */
  failWith(path: string, code: string, syscall?: string): this {
    SysError.fromCode(code, 'check');
    this.faults.push({ kind: 'fail', path, code, syscall });
    return this;
  }

  clearFaults(): this {
    for (const f of this.faults) if (f.kind === 'hang') f.release();
    this.faults = [];
    return this;
  }

  /** An application write through the array: goes to every working member, dirties the bitmap otherwise. */
  write(md: string, offsetBytes: number, lengthBytes: number): void {
    const a = this.array(md);
    if (offsetBytes < 0 || offsetBytes + lengthBytes > a.sizeBytes) throw SysError.fromCode('ENOSPC', 'write', md);
    const working = a.members.filter((m) => !m.faulty && m.raidDisk >= 0);
    if (working.length === 0) throw SysError.fromCode('EIO', 'write', md);
    for (const m of working) this.device(m.path).writtenSectors += sectors(lengthBytes);
    if (working.length < a.raidDisks || a.action === 'recover' || a.action === 'resync') {
      const chunk = a.bitmapChunkBytes ?? a.sizeBytes;
      for (let c = Math.floor(offsetBytes / chunk); c <= Math.floor((offsetBytes + lengthBytes - 1) / chunk); c++) a.dirtyChunks.add(c);
    }
  }

  /**
   * An application write through the array that resolves when md acknowledges it: while a
   * working member is an NBD device holding its requests, md cannot complete the write.
   */
  async submitWrite(md: string, offsetBytes: number, lengthBytes: number): Promise<void> {
    for (;;) {
      const a = this.array(md);
      const held = a.members
        .filter((m) => !m.faulty && m.raidDisk >= 0)
        .map((m) => [...this.nbds.values()].find((n) => `/dev/nbd${n.index}` === m.path && n.held))
        .find((n) => n !== undefined);
      if (!held?.held) return this.write(md, offsetBytes, lengthBytes);
      await new Promise<void>((r) => held.held!.waiters.push(r));
    }
  }

  /** Sectors written to a device so far. */
  writtenSectors(path: string): number {
    return this.device(path).writtenSectors;
  }

  // ---- what the controls call ----

  async gate(path: string, syscall: string): Promise<void> {
    for (;;) {
      const hang = this.faults.find((f) => f.kind === 'hang' && f.path === path);
      if (!hang || hang.kind !== 'hang') break;
      await hang.released;
    }
    const fail = this.faults.find((f) => f.kind === 'fail' && f.path === path && (f.syscall === undefined || f.syscall === syscall));
    if (fail && fail.kind === 'fail') throw SysError.fromCode(fail.code, syscall, path);
  }

  device(path: string): Device {
    const d = this.devices.get(path);
    if (!d) throw SysError.fromCode('ENOENT', 'stat', path);
    return d;
  }

  array(md: string): ArrayState {
    const a = this.arrays.get(md);
    if (!a) throw SysError.fromCode('ENODEV', 'ioctl(GET_ARRAY_INFO)', md);
    return a;
  }

  hasArray(md: string): boolean {
    return this.arrays.has(md);
  }

  create(spec: MdCreateSpec): void {
    const args = ['--create', spec.md, ...spec.members];
    this.programRuns.push(['mdadm', ...args]);
    const fail = (why: string) => {
      throw new ProgramError('mdadm', args, { code: 1, timedOut: false, stderr: `mdadm: ${why}\n`, signal: null }, 0);
    };
    if (this.arrays.has(spec.md)) fail(`${spec.md} is already in use.`);
    const present = spec.members.filter((m) => m !== 'missing').map((m) => this.devices.get(m) ?? fail(`cannot open ${m}: No such file or directory`));
    if (present.length === 0) fail('at least one member must be present');
    for (const d of present) {
      if (d.failed) fail(`cannot open ${d.path}: Input/output error`);
      if (this.usedBy(d.path)) fail(`${d.path} is busy - skipping`);
    }
    const sizeBytes = mdDataSizeBytes(Math.min(...present.map((d) => d.sizeBytes)));
    if (sizeBytes <= 0) fail('device too small');
    const uuid = this.nextUuid++;
    const a: ArrayState = {
      md: spec.md,
      uuid,
      raidDisks: spec.members.length,
      sizeBytes,
      members: [],
      bitmapChunkBytes: spec.bitmap === 'internal' ? (spec.bitmapChunkKiB ?? 65536) * 1024 : undefined,
      dirtyChunks: new Set(),
      events: 1,
      action: 'idle',
      done: 0,
      total: 0,
      copied: 0,
      startedAt: 0,
      speedMaxKiB: 'system',
      watchers: new Set(),
    };
    spec.members.forEach((path, i) => {
      if (path === 'missing') return;
      a.members.push({ number: i, path, raidDisk: i, faulty: false, sync: true, flags: new Set() });
      this.device(path).superblock = { md: spec.md, uuid, raidDisk: i, number: i, events: a.events };
    });
    this.arrays.set(spec.md, a);
    // Two fresh members: md resyncs them once (a degraded create has nothing to resync).
    if (present.length > 1) {
      a.members.slice(1).forEach((m) => (m.sync = false));
      this.startRecovery(a, a.members[1]!.number, undefined, 'resync');
    }
  }

  assemble(md: string, members: string[]): void {
    const args = ['--assemble', md, ...members];
    this.programRuns.push(['mdadm', ...args]);
    const fail = (why: string): never => {
      throw new ProgramError('mdadm', args, { code: 1, timedOut: false, stderr: `mdadm: ${why}\n`, signal: null }, 0);
    };
    if (this.arrays.has(md)) fail(`${md} is already in use.`);
    // Started from the members given, degraded when one is missing (as with --run).
    const present = members.map((m) => this.devices.get(m) ?? fail(`cannot open device ${m}: No such file or directory`));
    const sbs = present.map((d) => d.superblock ?? fail(`no recogniseable superblock on ${d.path}`));
    const a: ArrayState = {
      md,
      uuid: sbs[0]!.uuid,
      raidDisks: 2,
      sizeBytes: mdDataSizeBytes(Math.min(...present.map((d) => d.sizeBytes))),
      members: present.map((d, i) => ({ number: sbs[i]!.number, path: d.path, raidDisk: sbs[i]!.raidDisk, faulty: false, sync: true, flags: new Set<string>() })),
      bitmapChunkBytes: 4096 * 1024,
      dirtyChunks: new Set(),
      events: Math.max(...sbs.map((b) => b.events)) + 1,
      action: 'idle',
      done: 0,
      total: 0,
      copied: 0,
      startedAt: 0,
      speedMaxKiB: 'system',
      watchers: new Set(),
    };
    for (const d of present) d.superblock = { ...d.superblock!, md, events: a.events };
    this.arrays.set(md, a);
  }

  members(md: string): MdMember[] {
    return this.array(md).members.map((m) => ({
      number: m.number,
      dev: { ...this.device(m.path).dev },
      name: m.path.replace(/^\/dev\//, ''),
      raidDisk: m.faulty || !m.sync ? -1 : m.raidDisk,
      faulty: m.faulty,
      active: !m.faulty && m.sync,
      sync: !m.faulty && m.sync,
      writeMostly: false,
      badBlocks: 0,
    }));
  }

  arrayInfo(md: string): MdArrayInfo {
    const a = this.array(md);
    const active = a.members.filter((m) => !m.faulty && m.sync).length;
    const failed = a.members.filter((m) => m.faulty).length;
    return {
      md,
      level: 1,
      raidDisks: a.raidDisks,
      nrDisks: a.members.length,
      activeDisks: active,
      workingDisks: a.members.length - failed,
      failedDisks: failed,
      spareDisks: a.members.filter((m) => !m.faulty && !m.sync).length,
      sizeKiB: Math.floor(a.sizeBytes / 1024),
      clean: a.action === 'idle',
      metadata: '1.0',
    };
  }

  syncStatus(md: string): MdSyncStatus {
    const a = this.array(md);
    const degraded = a.raidDisks - a.members.filter((m) => !m.faulty && m.sync).length;
    const running = a.action === 'resync' || a.action === 'recover';
    return {
      action: a.action,
      arrayState: a.action === 'idle' ? 'clean' : 'active',
      degraded,
      completed: running ? { doneSectors: sectors(a.done), totalSectors: sectors(a.total) } : undefined,
      speedMaxKiB: a.speedMaxKiB,
      // As md computes it: KiB copied over whole seconds elapsed, at least one.
      ...(running ? { speedKiB: Math.floor(a.copied / 1024 / Math.max(1, Math.floor((Date.now() - a.startedAt) / 1000))) } : {}),
    };
  }

  memberState(md: string, name: string): string[] {
    const m = this.array(md).members.find((x) => x.path === `/dev/${name}`);
    if (!m) throw SysError.fromCode('ENOENT', 'open', `/sys/block/${md.slice(5)}/md/dev-${name}/state`);
    const flags = [...m.flags].map((f) => (f === 'writemostly' ? 'write_mostly' : f));
    if (m.faulty) return ['faulty', ...flags];
    return [m.sync ? 'in_sync' : 'spare', ...flags];
  }

  setMemberFlag(md: string, name: string, flag: string): void {
    const m = this.array(md).members.find((x) => x.path === `/dev/${name}`);
    if (!m) throw SysError.fromCode('ENOENT', 'open', `/sys/block/${md.slice(5)}/md/dev-${name}/state`);
    if (flag.startsWith('-')) m.flags.delete(flag.slice(1));
    else m.flags.add(flag);
  }

  bitmap(md: string): MdBitmapInfo {
    const a = this.array(md);
    return a.bitmapChunkBytes === undefined ? { location: 'none' } : { location: '-16', chunkBytes: a.bitmapChunkBytes };
  }

  setSpeed(md: string, kib: number | 'system'): void {
    this.array(md).speedMaxKiB = kib;
  }

  setAction(md: string, action: MdSyncAction): void {
    const a = this.array(md);
    if (action === 'idle' || action === 'frozen') {
      if (a.timer) clearInterval(a.timer);
      a.timer = undefined;
      if (action === 'frozen' || a.recovering === undefined) a.action = action === 'frozen' ? 'frozen' : 'idle';
      else a.action = 'idle';
      this.emit(a, 'sync_action', a.action);
      return;
    }
    if (action === 'check' || action === 'repair' || action === 'resync' || action === 'recover') {
      const pending = a.members.find((m) => !m.faulty && !m.sync);
      if (pending) this.startRecovery(a, pending.number, a.recovering?.chunks, 'recover');
      else if (action === 'check' || action === 'repair') this.startRecovery(a, -1, undefined, action);
    }
  }

  setFaulty(md: string, dev: DevNumber): void {
    const a = this.array(md);
    const m = this.memberByDev(a, dev);
    if (!m) throw SysError.fromCode('ENODEV', 'ioctl(SET_DISK_FAULTY)', md);
    this.markFaulty(a, m);
  }

  hotRemove(md: string, dev: DevNumber): void {
    const a = this.array(md);
    const m = this.memberByDev(a, dev);
    if (!m) throw SysError.fromCode('ENXIO', 'ioctl(HOT_REMOVE_DISK)', md);
    if (!m.faulty && m.sync) throw SysError.fromCode('EBUSY', 'ioctl(HOT_REMOVE_DISK)', md);
    if (a.recovering?.number === m.number) this.stopRecovery(a);
    a.members = a.members.filter((x) => x !== m);
    this.emit(a, 'degraded', String(this.syncStatus(md).degraded));
  }

  addDisk(md: string, path: string, reAdd?: { number: number; raidDisk: number }): 're-added' | 'added' {
    const a = this.array(md);
    const d = this.device(path);
    if (d.failed) throw SysError.fromCode('EIO', 'ioctl(ADD_NEW_DISK)', md);
    if (this.usedBy(path)) throw SysError.fromCode('EBUSY', 'ioctl(ADD_NEW_DISK)', md);
    if (mdDataSizeBytes(d.sizeBytes) < a.sizeBytes) throw SysError.fromCode('ENOSPC', 'ioctl(ADD_NEW_DISK)', md);
    const sb = d.superblock;
    const ours = sb !== undefined && sb.uuid === a.uuid;
    const slotFree = (n: number) => !a.members.some((m) => m.number === n);
    if (reAdd && ours && sb.raidDisk === reAdd.raidDisk && a.bitmapChunkBytes !== undefined && slotFree(sb.number)) {
      const member: Member = { number: sb.number, path, raidDisk: sb.raidDisk, faulty: false, sync: false, flags: new Set() };
      a.members.push(member);
      this.startRecovery(a, member.number, [...a.dirtyChunks].sort((x, y) => x - y), 'recover');
      return 're-added';
    }
    if (!ours) this.programRuns.push(['mdadm', '--manage', md, '--add', path]);
    let number = 0;
    while (!slotFree(number)) number++;
    const used = new Set(a.members.filter((m) => !m.faulty).map((m) => m.raidDisk));
    let raidDisk = 0;
    while (used.has(raidDisk)) raidDisk++;
    const member: Member = { number, path, raidDisk, faulty: false, sync: false, flags: new Set() };
    a.members.push(member);
    d.superblock = { md, uuid: a.uuid, raidDisk, number, events: a.events };
    this.startRecovery(a, number, undefined, 'recover');
    return 'added';
  }

  /** mdadm --zero-superblock: refused for a member of a running array, a no-op without one. */
  zeroSuperblock(path: string): void {
    const args = ['--zero-superblock', path];
    this.programRuns.push(['mdadm', ...args]);
    const d = this.devices.get(path);
    if (!d) throw new ProgramError('mdadm', args, { code: 1, timedOut: false, stderr: `mdadm: Couldn't open ${path} for write - not zeroing\n`, signal: null }, 0);
    if (this.usedBy(path)) throw new ProgramError('mdadm', args, { code: 1, timedOut: false, stderr: `mdadm: Couldn't open ${path} for write - not zeroing\n`, signal: null }, 0);
    d.superblock = undefined;
  }

  stop(md: string): void {
    const a = this.array(md);
    if (a.timer) clearInterval(a.timer);
    for (const m of a.members) {
      const d = this.devices.get(m.path);
      if (d?.superblock) d.superblock.events = a.events;
    }
    this.arrays.delete(md);
  }

  watch(md: string, names: string[], onEvent: (e: MdEvent) => void): MdWatcher {
    const a = this.array(md);
    const status = this.syncStatus(md);
    const first: Array<[string, string]> = [
      ['array_state', status.arrayState],
      ['degraded', String(status.degraded)],
      ['sync_action', status.action],
      ['sync_completed', status.completed ? `${status.completed.doneSectors} / ${status.completed.totalSectors}` : 'none'],
      ...names.map((n): [string, string] => [`dev-${n}/state`, this.memberState(md, n).join(',')]),
    ];
    const listener = (e: MdEvent) => {
      if (!e.attribute.startsWith('dev-') || names.some((n) => e.attribute === `dev-${n}/state`)) onEvent(e);
    };
    queueMicrotask(() => {
      for (const [attribute, value] of first) listener({ md, attribute, value });
      a.watchers.add(listener);
    });
    return { close: () => a.watchers.delete(listener) };
  }

  // ---- NBD ----

  nbd(index: number): NbdDevice {
    const n = this.nbds.get(index);
    if (!n) throw SysError.fromCode('ENOENT', 'genl(NBD_CMD_STATUS)', `/dev/nbd${index}`);
    return n;
  }

  connect(index: number, options: NbdAttachOptions): void {
    const n = this.nbd(index);
    if (n.connected) throw SysError.fromCode('EBUSY', 'genl(NBD_CMD_CONNECT)', `/dev/nbd${index}`);
    const d = this.device(`/dev/nbd${index}`);
    n.connected = true;
    n.sizeBytes = options.sizeBytes;
    n.pid = process.pid;
    n.backend = options.backend;
    n.deadConnTimeoutSec = options.deadConnTimeoutSec ?? 0;
    d.sizeBytes = options.sizeBytes;
    d.failed = false;
  }

  /** The server side of /dev/nbdN's connection: a device whose superblock survives reconnects. */
  exportSuperblock(index: number): Device['superblock'] {
    return this.device(`/dev/nbd${index}`).superblock;
  }

  /** NBD_CMD_RECONFIGURE with a new socket: a held device sends its requests on it. */
  reconfigure(index: number): void {
    const n = this.nbd(index);
    if (!n.connected) throw SysError.fromCode('EINVAL', 'genl(NBD_CMD_RECONFIGURE)', `/dev/nbd${index}`);
    this.endHold(index, false);
  }

  watchLinkDead(onDead: (index: number) => void): NbdLinkWatcher {
    this.linkWatchers.add(onDead);
    return { close: () => this.linkWatchers.delete(onDead) };
  }

  disconnect(index: number): void {
    const n = this.nbd(index);
    const path = `/dev/nbd${index}`;
    if (this.usedBy(path)) this.failDevice(path);
    this.endHold(index, false);
    n.connected = false;
    n.pid = undefined;
    n.sizeBytes = 0;
    this.device(path).sizeBytes = 0;
  }

  // ---- internals ----

  private usedBy(path: string): ArrayState | undefined {
    for (const a of this.arrays.values()) if (a.members.some((m) => m.path === path)) return a;
    return undefined;
  }

  private memberByDev(a: ArrayState, dev: DevNumber): Member | undefined {
    return a.members.find((m) => {
      const d = this.device(m.path).dev;
      return d.major === dev.major && d.minor === dev.minor;
    });
  }

  private markFaulty(a: ArrayState, m: Member): void {
    m.faulty = true;
    a.events++;
    if (a.recovering?.number === m.number) this.stopRecovery(a);
    // The survivors' superblocks record the event; the failed member's does not.
    for (const x of a.members) {
      const sb = this.devices.get(x.path)?.superblock;
      if (sb && !x.faulty) sb.events = a.events;
    }
    this.emit(a, `dev-${m.path.slice(5)}/state`, 'faulty');
    this.emit(a, 'degraded', String(this.syncStatus(a.md).degraded));
  }

  private startRecovery(a: ArrayState, number: number, chunks: number[] | undefined, action: MdSyncAction): void {
    if (a.timer) clearInterval(a.timer);
    a.action = action;
    a.recovering = { number, chunks };
    a.done = 0;
    a.total = a.sizeBytes;
    a.copied = 0;
    a.startedAt = Date.now();
    this.emit(a, 'sync_action', action);
    const chunkBytes = a.bitmapChunkBytes ?? a.sizeBytes;
    // Bytes still to copy, in order; a bitmap-based recovery skips clean chunks without copying.
    const plan = chunks === undefined ? [{ from: 0, to: a.sizeBytes }] : chunks.map((c) => ({ from: c * chunkBytes, to: Math.min((c + 1) * chunkBytes, a.sizeBytes) }));
    let step = 0;
    let pos = plan[0]?.from ?? a.sizeBytes;
    a.timer = setInterval(() => {
      const member = a.members.find((m) => m.number === number);
      if (number >= 0 && (!member || member.faulty)) {
        this.stopRecovery(a);
        return;
      }
      const speed = a.speedMaxKiB === 'system' ? SYSTEM_SPEED_KIB : a.speedMaxKiB;
      let budget = Math.max(512, Math.floor((speed * 1024 * TICK_MS) / 1000));
      while (budget > 0 && step < plan.length) {
        const span = plan[step]!;
        const n = Math.min(budget, span.to - pos);
        if (member) this.device(member.path).writtenSectors += sectors(n);
        a.copied += n;
        pos += n;
        budget -= n;
        if (pos >= span.to) {
          step++;
          pos = plan[step]?.from ?? a.sizeBytes;
        }
      }
      a.done = step >= plan.length ? a.sizeBytes : pos;
      this.emit(a, 'sync_completed', `${sectors(a.done)} / ${sectors(a.total)}`);
      if (step >= plan.length) this.finishRecovery(a, member);
    }, TICK_MS);
    a.timer.unref();
  }

  private finishRecovery(a: ArrayState, member: Member | undefined): void {
    if (a.timer) clearInterval(a.timer);
    a.timer = undefined;
    a.recovering = undefined;
    a.action = 'idle';
    if (member) {
      member.sync = true;
      a.events++;
      for (const x of a.members) {
        const sb = this.devices.get(x.path)?.superblock;
        if (sb && !x.faulty) sb.events = a.events;
      }
    }
    if (a.members.filter((m) => !m.faulty && m.sync).length === a.raidDisks) a.dirtyChunks.clear();
    this.emit(a, 'sync_action', 'idle');
    this.emit(a, 'sync_completed', 'none');
    this.emit(a, 'degraded', String(this.syncStatus(a.md).degraded));
    if (member) this.emit(a, `dev-${member.path.slice(5)}/state`, 'in_sync');
  }

  private stopRecovery(a: ArrayState): void {
    if (a.timer) clearInterval(a.timer);
    a.timer = undefined;
    a.recovering = undefined;
    a.action = 'idle';
    this.emit(a, 'sync_action', 'idle');
  }

  private emit(a: ArrayState, attribute: string, value: string): void {
    const event: MdEvent = { md: a.md, attribute, value };
    for (const w of a.watchers) queueMicrotask(() => w(event));
  }
}

export class MemoryMdControl implements MdControl {
  constructor(
    readonly kernel: MemoryReplicationKernel,
    private readonly runner: MemoryProbeRunner,
  ) {}

  private call<T>(md: string, syscall: string, timeoutMs: number, fn: () => T): Promise<T> {
    return this.runner.run(syscall, md, md, timeoutMs, async () => {
      await this.kernel.gate(md, syscall);
      return fn();
    });
  }

  create(spec: MdCreateSpec, timeoutMs: number): Promise<void> {
    return this.call(spec.md, 'mdadm --create', timeoutMs, () => this.kernel.create(spec));
  }
  assemble(md: string, members: string[], timeoutMs: number): Promise<void> {
    return this.call(md, 'mdadm --assemble', timeoutMs, () => this.kernel.assemble(md, members));
  }
  exists(md: string, timeoutMs: number): Promise<boolean> {
    return this.call(md, 'read', timeoutMs, () => this.kernel.hasArray(md));
  }
  arrayInfo(md: string, timeoutMs: number): Promise<MdArrayInfo> {
    return this.call(md, 'ioctl(GET_ARRAY_INFO)', timeoutMs, () => this.kernel.arrayInfo(md));
  }
  members(md: string, timeoutMs: number): Promise<MdMember[]> {
    return this.call(md, 'ioctl(GET_DISK_INFO)', timeoutMs, () => this.kernel.members(md));
  }
  setFaulty(md: string, dev: DevNumber, timeoutMs: number): Promise<void> {
    return this.call(md, 'ioctl(SET_DISK_FAULTY)', timeoutMs, () => this.kernel.setFaulty(md, dev));
  }
  hotRemove(md: string, dev: DevNumber, timeoutMs: number): Promise<void> {
    return this.call(md, 'ioctl(HOT_REMOVE_DISK)', timeoutMs, () => this.kernel.hotRemove(md, dev));
  }
  add(md: string, devicePath: string, timeoutMs: number, reAdd?: { number: number; raidDisk: number }): Promise<'re-added' | 'added'> {
    return this.call(md, 'ioctl(ADD_NEW_DISK)', timeoutMs, () => this.kernel.addDisk(md, devicePath, reAdd));
  }
  stop(md: string, timeoutMs: number): Promise<void> {
    return this.call(md, 'ioctl(STOP_ARRAY)', timeoutMs, () => this.kernel.stop(md));
  }
  zeroSuperblock(devicePath: string, timeoutMs: number): Promise<void> {
    return this.call(devicePath, 'mdadm --zero-superblock', timeoutMs, () => this.kernel.zeroSuperblock(devicePath));
  }
  syncStatus(md: string, timeoutMs: number): Promise<MdSyncStatus> {
    return this.call(md, 'read', timeoutMs, () => this.kernel.syncStatus(md));
  }
  setSyncAction(md: string, action: Exclude<MdSyncAction, 'reshape'>, timeoutMs: number): Promise<void> {
    return this.call(md, 'write sync_action', timeoutMs, () => this.kernel.setAction(md, action));
  }
  setSyncSpeedMax(md: string, kib: number | 'system', timeoutMs: number): Promise<void> {
    if (kib !== 'system' && (!Number.isInteger(kib) || kib < 1)) return Promise.reject(new RangeError('sync speed must be a positive whole number of KiB/s or "system"'));
    return this.call(md, 'write sync_speed_max', timeoutMs, () => this.kernel.setSpeed(md, kib));
  }
  bitmap(md: string, timeoutMs: number): Promise<MdBitmapInfo> {
    return this.call(md, 'read', timeoutMs, () => this.kernel.bitmap(md));
  }
  memberState(md: string, memberName: string, timeoutMs: number): Promise<string[]> {
    return this.call(md, 'read', timeoutMs, () => this.kernel.memberState(md, memberName));
  }
  setMemberFlag(md: string, memberName: string, flag: 'failfast' | '-failfast' | 'writemostly' | '-writemostly', timeoutMs: number): Promise<void> {
    return this.call(md, 'write state', timeoutMs, () => this.kernel.setMemberFlag(md, memberName, flag));
  }
  async devNumber(devicePath: string): Promise<DevNumber> {
    return { ...this.kernel.device(devicePath).dev };
  }
  watch(md: string, memberNames: string[], onEvent: (event: MdEvent) => void): MdWatcher {
    return this.kernel.watch(md, memberNames, onEvent);
  }
}

export class MemoryNbdControl implements NbdControl {
  constructor(
    readonly kernel: MemoryReplicationKernel,
    private readonly runner: MemoryProbeRunner,
  ) {}

  private call<T>(index: number, syscall: string, timeoutMs: number, fn: () => T): Promise<T> {
    const path = `/dev/nbd${index}`;
    return this.runner.run(syscall, path, path, timeoutMs, async () => {
      await this.kernel.gate(path, syscall);
      return fn();
    });
  }

  attach(index: number, socketFd: number, options: NbdAttachOptions, timeoutMs: number): Promise<void> {
    if (!Number.isInteger(socketFd) || socketFd < 0) return Promise.reject(SysError.fromCode('EBADF', 'genl(NBD_CMD_CONNECT)', `/dev/nbd${index}`));
    return this.call(index, 'genl(NBD_CMD_CONNECT)', timeoutMs, () => this.kernel.connect(index, options));
  }
  detach(index: number, timeoutMs: number): Promise<void> {
    return this.call(index, 'genl(NBD_CMD_DISCONNECT)', timeoutMs, () => this.kernel.disconnect(index));
  }
  reconnect(index: number, socketFd: number, timeoutMs: number): Promise<void> {
    if (!Number.isInteger(socketFd) || socketFd < 0) return Promise.reject(SysError.fromCode('EBADF', 'genl(NBD_CMD_RECONFIGURE)', `/dev/nbd${index}`));
    return this.call(index, 'genl(NBD_CMD_RECONFIGURE)', timeoutMs, () => this.kernel.reconfigure(index));
  }
  watchLinkDead(onDead: (index: number) => void): NbdLinkWatcher {
    return this.kernel.watchLinkDead(onDead);
  }
  status(index: number, timeoutMs: number): Promise<NbdStatus> {
    return this.call(index, 'genl(NBD_CMD_STATUS)', timeoutMs, () => {
      const n = this.kernel.nbd(index);
      const out: NbdStatus = { index, device: `/dev/nbd${index}`, connected: n.connected };
      if (n.connected) {
        out.pid = n.pid;
        out.sizeBytes = n.sizeBytes;
        if (n.backend) out.backend = n.backend;
      }
      return out;
    });
  }
}
