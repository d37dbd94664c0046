// The NetRAID utilities with the product's names, arguments, messages and return codes:
// netraid_create, netraid_extend, netraid_unextend, netraid_delete, netraid_resync, netraid_info,
// netraid_status — plus netraid_monitor, which follows md's events in the foreground and takes a
// returning backup back on its own. They run on the primary and talk to its kernel through the
// platform layer (no vigild needed); what a device is made of is kept by NetraidRecords.
// Every command exits 0 on success and 1 on failure (error number on stderr), except
// netraid_status, whose exit status is its result (-1 is 255, -2 254, -3 253; see
// docs/replication.md). netraid_extend and netraid_resync return once the copy has begun, as in
// the seeds; with --wait they follow it to the end with progress lines on stderr
// (resync-progress.ts), and netraid_resync --json prints one result object instead of text.
import { Command, InvalidArgumentError } from 'commander';

import { DEFAULT_CONFIG_PATH, loadConfig } from '../../common/config.js';
import { VigilError } from '../../common/errors.js';
import { runProgram } from '../../common/run-program.js';
import { createLinuxPlatform } from '../../platform/linux/index.js';
import type { Platform } from '../../platform/platform.js';
import { TcpBackupLink, type BackupLink } from '../../replication/backup-link.js';
import { replicationConfig, type ReplicationConfig } from '../../replication/config.js';
import { formatReplicationError, replicationError } from '../../replication/errors.js';
import { Mirror } from '../../replication/mirror.js';
import { exitStatusOf, netraidStatusCode, statusWord } from '../../replication/mirror-state.js';
import { fileRecordStore, NetraidRecords, type NetraidRecord } from '../../replication/netraid-record.js';
import { jsonError } from '../json-output.js';
import { formatResyncProgress, ResyncEstimator, waitForResync } from '../resync-progress.js';

export interface NetraidContext {
  platform: Platform;
  config: ReplicationConfig;
  records: NetraidRecords;
  localSystem: string;
  /** How to reach a backup's export (TCP + NBD handshake unless a test says otherwise). */
  linkTo(target: NonNullable<NetraidRecord['target']>): BackupLink;
  /** Loads a kernel module (modprobe, time-limited); rejects with 104022. */
  loadModule(name: string): Promise<void>;
  out(line: string): void;
  err(line: string): void;
  /** Where --wait's progress lines go (default: err); nothing under --json. */
  progress?(line: string): void;
  /** How often --wait and netraid_monitor report progress (default 5 s). */
  progressIntervalMs?: number;
}

/** What netraid_resync did, for its --json output. */
export interface ResyncResult {
  device: string;
  tag: string;
  /** The mirror's state when the command returned ('resyncing', or 'mirroring' after --wait). */
  state: string;
  percent: number;
  /** The seeds' message the text output printed. */
  message: string;
  /** With --wait: how long it waited, in seconds. */
  waitedS?: number;
}

const DEFAULT_PROGRESS_INTERVAL_MS = 5_000;
/** md starts the copy of a re-added member within moments; longer means it did not start. */
const RESYNC_START_GRACE_MS = 30_000;

function defaultContext(): NetraidContext {
  const { config } = loadConfig(process.env.VIGIL_CONFIG || DEFAULT_CONFIG_PATH, { optional: true });
  const platform = createLinuxPlatform();
  const rc = replicationConfig(config.raw);
  return {
    platform,
    config: rc,
    records: new NetraidRecords(config.VIGIL_STATE_DIR, fileRecordStore(platform.durableFiles), rc.callTimeoutMs),
    localSystem: config.VIGIL_NODE_NAME,
    linkTo: (t) => new TcpBackupLink({ host: t.address, port: t.port, exportName: t.exportName }),
    loadModule: async (name) => {
      const r = await runProgram('modprobe', [name], { timeoutMs: rc.callTimeoutMs });
      if (r.code !== 0) throw replicationError(104022, [name], { stderr: r.stderr.trim(), timedOut: r.timedOut });
    },
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
  };
}

function netraidNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 255) throw new InvalidArgumentError('must be a NetRAID number from 0 to 255');
  return Number(value);
}

function portNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new InvalidArgumentError('must be a TCP port from 1 to 65535');
  return Number(value);
}

function absoluteDevice(value: string): string {
  if (!/^\/dev\/\S+$/.test(value)) throw new InvalidArgumentError('must be a device path such as /dev/sdb1');
  return value;
}

function mirrorOf(ctx: NetraidContext, record: Pick<NetraidRecord, 'number' | 'localPartition' | 'target' | 'backupSlot'>): Mirror {
  const link = record.target ? ctx.linkTo(record.target) : undefined;
  return new Mirror(
    ctx.platform,
    { number: record.number, localPartition: record.localPartition, localSystem: ctx.localSystem, backupSystem: record.target?.system, backupSlot: record.backupSlot },
    ctx.config,
    link,
  );
}

async function recordOf(ctx: NetraidContext, number: number): Promise<NetraidRecord> {
  const r = await ctx.records.get(number);
  if (!r) throw replicationError(104005, [`netraid${number}`, ctx.localSystem], { reason: `no NetRAID device ${number} was created on this system` });
  return r;
}

/** netraid_resync --json: the result object or the error object is the only output; the exit status as without. */
export async function resyncAsJson(ctx: NetraidContext, tag: string, wait: boolean, write: (s: string) => void): Promise<void> {
  const quiet: NetraidContext = { ...ctx, out: () => undefined, err: () => undefined, progress: () => undefined };
  try {
    write(`${JSON.stringify(await netraidResync(quiet, tag, { wait }))}\n`);
    process.exitCode = 0;
  } catch (err) {
    const error = err instanceof VigilError ? { number: err.number, message: err.message } : { number: 0, message: (err as Error).message };
    write(jsonError(1, { error }, error.message));
    process.exitCode = 1;
  }
}

/** Runs a command body; a failure is printed with its error number and gives exit status 1. */
async function guarded(ctx: NetraidContext, body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? 0;
  } catch (err) {
    ctx.err(err instanceof VigilError ? err.format() : `Error: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

export async function netraidCreate(ctx: NetraidContext, partition: string, number: number, tag?: string): Promise<void> {
  if (await ctx.records.get(number)) throw replicationError(104010, [`/dev/md${number}`, ctx.localSystem], { reason: 'a NetRAID device with this number exists' });
  const mirror = mirrorOf(ctx, { number, localPartition: partition });
  ctx.out(`netraid_create: Creating the RAID1 (${mirror.md}) device ...`);
  await mirror.create();
  await ctx.records.put({ number, tag: tag ?? `netraid${number}`, localSystem: ctx.localSystem, localPartition: partition });
  ctx.out(`netraid_create: ${partition} is configured to be mirrored through ${mirror.nbdDevice}`);
}

export interface ExtendArgs {
  templateServer: string;
  templatePartition: string;
  targetPartition: string;
  targetAddress: string;
  port: number;
  number: number;
  exportName?: string;
  targetSystem?: string;
}

export async function netraidExtend(ctx: NetraidContext, a: ExtendArgs, opts: { wait?: boolean } = {}): Promise<void> {
  if (a.templateServer !== ctx.localSystem) throw replicationError(104041, [ctx.localSystem], { templateServer: a.templateServer });
  const record = await recordOf(ctx, a.number);
  if (record.localPartition !== a.templatePartition) {
    throw replicationError(104007, [record.tag, ctx.localSystem], { reason: `NetRAID device ${a.number} mirrors ${record.localPartition}, not ${a.templatePartition}` });
  }
  const target = a.targetSystem ?? a.targetAddress;
  if (record.target && record.target.address !== a.targetAddress) throw replicationError(104011, [record.tag, record.target.system]);
  ctx.out('netraid_extend: Loading NBD module ...');
  await ctx.loadModule('nbd');
  ctx.out('netraid_extend: Loading RAID1 module ...');
  await ctx.loadModule('raid1');
  ctx.out(`netraid_extend: Using the nbd-server on "${target}" (${a.targetAddress} port ${a.port}) ...`);
  const updated: NetraidRecord = {
    ...record,
    target: { system: target, address: a.targetAddress, port: a.port, partition: a.targetPartition, exportName: a.exportName ?? `netraid${a.number}` },
  };
  const mirror = mirrorOf(ctx, updated);
  mirror.on('backup-slot', (slot) => (updated.backupSlot = slot));
  ctx.out(`netraid_extend: Running the nbd-client on "${ctx.localSystem}" ...`);
  ctx.out(`netraid_extend: Extending the RAID1 (${mirror.md}) device from "${ctx.localSystem}" to "${target}"...`);
  await mirror.attachBackup();
  await ctx.records.put(updated);
  ctx.out(`netraid_extend: "${ctx.localSystem}:${a.templatePartition}" is being replicated to "${target}:${a.targetPartition}"`);
  if (opts.wait) {
    const waited = await followResync(ctx, mirror, record.tag);
    ctx.out(`netraid_extend: ${formatReplicationError(104030, [mirror.md, record.tag], `${waited.toFixed(1)} s`)}`);
  }
}

/**
 * Waits until the mirror is in sync, with a progress line every interval; returns the seconds
 * waited. A resync that stops (the backup failed, the copy never began) is 104003 with the state.
 */
async function followResync(ctx: NetraidContext, mirror: Mirror, tag: string): Promise<number> {
  const r = await waitForResync({
    device: mirror.md,
    read: () => mirror.status(),
    progress: (l) => (ctx.progress ?? ctx.err)(l),
    intervalMs: ctx.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS,
    startGraceMs: RESYNC_START_GRACE_MS,
  });
  if (r.outcome === 'stopped') {
    throw replicationError(104003, [mirror.md, tag], { reason: `the resync stopped after ${r.seconds.toFixed(1)} s: the mirror is ${r.state}` });
  }
  return r.seconds;
}

export async function netraidStatus(ctx: NetraidContext, number: number): Promise<number> {
  const record = await ctx.records.get(number);
  // Without a record (a device made by hand) the kernel alone tells which half is local.
  const mirror = mirrorOf(ctx, record ?? { number, localPartition: '' });
  const code = netraidStatusCode(await mirror.status());
  ctx.out(String(code));
  return exitStatusOf(code);
}

export async function netraidInfo(ctx: NetraidContext, number: number): Promise<void> {
  const record = await recordOf(ctx, number);
  const mirror = mirrorOf(ctx, record);
  const st = await mirror.status();
  if (st.state === 'absent') throw replicationError(104005, [record.tag, ctx.localSystem], { reason: `${mirror.md} does not exist` });
  const info = await ctx.platform.md.arrayInfo(mirror.md, ctx.config.callTimeoutMs);
  const local = await ctx.platform.md.devNumber(record.localPartition).catch(() => undefined);
  const nbd = await ctx.platform.nbd.status(mirror.nbdIndex, ctx.config.callTimeoutMs);
  const lines: Array<[string, string]> = [
    ['NetRAID Device Name', mirror.md],
    ['NetRAID Device Size', `${info.sizeKiB} KB`],
    ['Port Number', record.target ? String(record.target.port) : '-'],
    ['NetRAID Status', statusWord(st)],
    ['Local Server', ctx.localSystem],
    ['Local Partition', record.localPartition],
    ['Local Partition ID', local ? `${local.major}:${local.minor}` : '-'],
    ['Local Partition State', st.local],
    ['Remote Server', record.target ? `${record.target.system} [${record.target.address}]` : '-'],
    ['Remote Partition', record.target?.partition ?? '-'],
    ['Remote Partition State', st.backup],
    ['NBD Device', `${mirror.nbdDevice} (${nbd.connected ? `connected, pid ${nbd.pid ?? '?'}` : 'not connected'})`],
  ];
  for (const [k, v] of lines) ctx.out(`${k}: ${v}`);
}

export async function netraidResync(ctx: NetraidContext, tag: string, opts: { wait?: boolean } = {}): Promise<ResyncResult> {
  const record = (await ctx.records.list()).find((r) => r.tag === tag);
  if (!record) throw replicationError(104005, [tag, ctx.localSystem]);
  if (!record.target) throw replicationError(104003, [`/dev/md${record.number}`, tag], { reason: 'the device has not been extended to a backup' });
  const mirror = mirrorOf(ctx, record);
  const st = await mirror.status();
  if (st.state === 'absent') throw replicationError(104003, [mirror.md, tag], { reason: `${mirror.md} does not exist` });
  if (st.local !== 'in-sync') throw replicationError(104003, [mirror.md, tag], { reason: 'the local partition has failed' });
  const inSync = (): ResyncResult => ({ device: mirror.md, tag, state: 'mirroring', percent: 100, message: formatReplicationError(104030, [mirror.md, tag]) });
  if (st.state === 'mirroring') {
    ctx.out(inSync().message);
    return inSync();
  }
  let started: ResyncResult;
  if (st.state === 'resyncing') {
    started = { device: mirror.md, tag, state: st.state, percent: st.percent, message: formatReplicationError(104014, [mirror.md, tag], `${st.percent}% done`) };
  } else {
    mirror.on('backup-slot', (slot) => (record.backupSlot = slot));
    try {
      if (st.backup !== 'missing') await mirror.dropBackup();
      await mirror.attachBackup();
    } catch (err) {
      throw replicationError(104003, [mirror.md, tag], { reason: (err as Error).message }, err);
    }
    await ctx.records.put(record);
    const now = await mirror.status();
    started = { device: mirror.md, tag, state: now.state, percent: now.percent, message: formatReplicationError(104014, [mirror.md, tag]) };
  }
  ctx.out(started.message);
  if (!opts.wait) return started;
  const waitedS = await followResync(ctx, mirror, tag);
  ctx.out(inSync().message);
  return { ...inSync(), waitedS: Math.round(waitedS * 10) / 10 };
}

export async function netraidUnextend(ctx: NetraidContext, port: number): Promise<void> {
  const record = (await ctx.records.list()).find((r) => r.target?.port === port);
  if (!record || !record.target) throw replicationError(104006, [`port ${port}`, ctx.localSystem]);
  const mirror = mirrorOf(ctx, record);
  if ((await mirror.status()).state === 'resyncing') ctx.err(`Warning ${formatReplicationError(104025, [record.tag, mirror.md])}`);
  try {
    await mirror.dropBackup();
  } catch (err) {
    throw replicationError(104018, [record.tag, record.target.system], { reason: (err as Error).message }, err);
  }
  const system = record.target.system;
  await ctx.records.put({ ...record, target: undefined, backupSlot: undefined });
  ctx.out(formatReplicationError(104019, [record.tag, system]));
}

export async function netraidDelete(ctx: NetraidContext, partition: string, number: number, targetSystem: string, port: number): Promise<void> {
  const record = await recordOf(ctx, number);
  if (record.localPartition !== partition) throw replicationError(104007, [record.tag, ctx.localSystem], { reason: `NetRAID device ${number} mirrors ${record.localPartition}` });
  if (record.target && (record.target.system !== targetSystem || record.target.port !== port)) {
    throw replicationError(104027, [record.tag], { reason: `NetRAID device ${number} is extended to ${record.target.system} port ${record.target.port}` });
  }
  const mirror = mirrorOf(ctx, record);
  if ((await mirror.status()).state === 'resyncing') ctx.err(`Warning ${formatReplicationError(104026, [record.tag, mirror.md])}`);
  await mirror.delete();
  await ctx.records.remove(number);
  ctx.out(formatReplicationError(104015, [mirror.md, record.tag, ctx.localSystem]));
}

/** Follows md's events until interrupted, printing each state change and re-adding a returning backup. */
export async function netraidMonitor(ctx: NetraidContext, number: number, signal?: AbortSignal): Promise<void> {
  const record = await recordOf(ctx, number);
  const mirror = mirrorOf(ctx, record);
  const stamp = () => new Date().toISOString();
  mirror.on('state', (v) => ctx.out(`${stamp()} ${mirror.md} ${v.state} local=${v.local} backup=${v.backup} status=${netraidStatusCode(v)}`));
  mirror.on('backup-stale', () => ctx.out(`${stamp()} ${mirror.md} backup out of date`));
  mirror.on('backup-current', () => ctx.out(`${stamp()} ${mirror.md} backup up to date`));
  // md reports sync_completed many times a second: one progress line per interval is enough.
  const estimator = new ResyncEstimator();
  const every = ctx.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  let lastProgress = -Infinity;
  mirror.on('progress', (p) => {
    const est = estimator.observe(Date.now(), p.doneSectors, p.totalSectors);
    if (Date.now() - lastProgress < every) return;
    lastProgress = Date.now();
    ctx.out(`${stamp()} ${formatResyncProgress(mirror.md, est)}`);
  });
  mirror.on('backup-slot', (slot) => {
    record.backupSlot = slot;
    void ctx.records.put(record).catch((err: Error) => ctx.err(`${stamp()} ${err.message}`));
  });
  mirror.on('error', (err) => ctx.err(`${stamp()} ${err instanceof VigilError ? err.format() : err.message}`));
  await mirror.watch();
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    signal?.addEventListener('abort', stop, { once: true });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  mirror.close();
}

/** netraid_status's exit status when the state could not be read at all. */
export const NETRAID_STATUS_UNKNOWN_EXIT = 252;

export const NETRAID_COMMAND_NAMES = [
  'netraid_create',
  'netraid_extend',
  'netraid_unextend',
  'netraid_delete',
  'netraid_resync',
  'netraid_info',
  'netraid_status',
  'netraid_monitor',
] as const;

export type NetraidCommandName = (typeof NETRAID_COMMAND_NAMES)[number];

export function netraidCommand(name: NetraidCommandName, makeContext: () => NetraidContext = defaultContext): Command {
  // A usage error is vigil's usage status (2) — except for netraid_status, whose 0-100 and
  // 253-255 are all results: there it is 252, like any status that could not be read.
  const cmd = new Command(name).exitOverride(
    name === 'netraid_status'
      ? (err) => process.exit(err.exitCode === 0 ? 0 : NETRAID_STATUS_UNKNOWN_EXIT)
      : (err) => {
          throw err;
        },
  );
  switch (name) {
    case 'netraid_create':
      return cmd
        .description('create NetRAID device /dev/mdN (RAID1 with a write-intent bitmap) on the template partition, degraded until extended')
        .argument('<templatePartition>', 'the local partition to mirror', absoluteDevice)
        .argument('<netraidNumber>', 'N: the device becomes /dev/mdN, its backup half /dev/nbdN', netraidNumber)
        .option('--tag <tag>', 'resource tag the device is known by (default netraidN)')
        .action(async (partition: string, number: number, opts: { tag?: string }) => {
          const ctx = makeContext();
          await guarded(ctx, () => netraidCreate(ctx, partition, number, opts.tag));
        });
    case 'netraid_extend':
      return cmd
        .description("extend NetRAID device N to the target: connect /dev/nbdN to the target's NBD server and add it to the mirror (run on the template server)")
        .argument('<templateServer>', 'this system')
        .argument('<templatePartition>', 'the mirrored local partition', absoluteDevice)
        .argument('<targetPartition>', "the target's partition (exported by its NBD server)")
        .argument('<targetIpAddress>', "the target's replication address")
        .argument('<portNumber>', "the target's NBD server port", portNumber)
        .argument('<netraidNumber>', 'N', netraidNumber)
        .option('--export <name>', 'export name on the NBD server (default netraidN)')
        .option('--target-system <name>', 'name of the target system in messages (default: its address)')
        .option('--wait', 'wait until the backup is in sync, with progress lines (percent, rate, time left) on stderr')
        .action(async (templateServer: string, templatePartition: string, targetPartition: string, targetAddress: string, port: number, number: number, opts: { export?: string; targetSystem?: string; wait?: boolean }) => {
          const ctx = makeContext();
          await guarded(ctx, () =>
            netraidExtend(ctx, { templateServer, templatePartition, targetPartition, targetAddress, port, number, exportName: opts.export, targetSystem: opts.targetSystem }, { wait: opts.wait === true }),
          );
        });
    case 'netraid_unextend':
      return cmd
        .description('stop replicating to the backup on this port: drop /dev/nbdN from the mirror and disconnect it')
        .argument('<portNumber>', 'the port the NetRAID device is extended through', portNumber)
        .action(async (port: number) => {
          const ctx = makeContext();
          await guarded(ctx, () => netraidUnextend(ctx, port));
        });
    case 'netraid_delete':
      return cmd
        .description('stop NetRAID device N and disconnect its NBD device (the partition keeps its data)')
        .argument('<templatePartition>', 'the mirrored local partition', absoluteDevice)
        .argument('<netraidNumber>', 'N', netraidNumber)
        .argument('<targetSystem>', 'the system it is extended to')
        .argument('<portNumber>', 'the port it is extended through', portNumber)
        .action(async (partition: string, number: number, target: string, port: number) => {
          const ctx = makeContext();
          await guarded(ctx, () => netraidDelete(ctx, partition, number, target, port));
        });
    case 'netraid_resync':
      return cmd
        .description('bring the backup of a NetRAID device up to date (re-adding it: only what changed is copied when the bitmap covers it)')
        .argument('<tagName>', 'the resource tag of the NetRAID device')
        .option('--wait', 'wait until the backup is in sync, with progress lines (percent, rate, time left) on stderr')
        .option('--json', 'print one JSON object (the result, or the error) on stdout and no progress lines')
        .action(async (tag: string, opts: { wait?: boolean; json?: boolean }) => {
          const ctx = makeContext();
          if (opts.json) await resyncAsJson(ctx, tag, opts.wait === true, (s) => process.stdout.write(s));
          else await guarded(ctx, async () => void (await netraidResync(ctx, tag, { wait: opts.wait === true })));
        });
    case 'netraid_info':
      return cmd
        .description('show NetRAID device N: size, port, status (Broken, Resync [%], Mirroring), local and remote halves')
        .argument('<netraidNumber>', 'N', netraidNumber)
        .action(async (number: number) => {
          const ctx = makeContext();
          await guarded(ctx, () => netraidInfo(ctx, number));
        });
    case 'netraid_status':
      return cmd
        .description('print the mirror state as a number and exit with it: -3, -2, -1, 0, 1-99 (percent resynchronized), 100')
        .argument('<netraidNumber>', 'N', netraidNumber)
        .action(async (number: number) => {
          const ctx = makeContext();
          try {
            process.exitCode = await netraidStatus(ctx, number);
          } catch (err) {
            // Not a status: the state could not be read. Every value from 0 to 100 and 253-255 is
            // a result, so this gets one of its own (252, i.e. -4).
            ctx.err(err instanceof VigilError ? err.format() : `Error: ${(err as Error).message}`);
            process.exitCode = NETRAID_STATUS_UNKNOWN_EXIT;
          }
        });
    case 'netraid_monitor':
      return cmd
        .description("follow NetRAID device N in the foreground: report md's events, drop a dead backup, re-add it when it returns")
        .argument('<netraidNumber>', 'N', netraidNumber)
        .action(async (number: number) => {
          const ctx = makeContext();
          await guarded(ctx, () => netraidMonitor(ctx, number));
        });
  }
}
