// `vigil standby`: the recovery-server standby (docs/standby.md). It runs without vigild, early
// in the standby's boot (deploy/systemd/vigil-standby.service), and only listens to the primary's
// disk heartbeat record on the shared LUN; when the record has not advanced for
// VIGIL_STANDBY_TIMEOUT it fences the primary, says why, and exits 0 so the boot continues and
// vigild brings the hierarchies in service. On any other system it is a no-op (exit 0).
//   vigil standby status [--json]  the monitor: role, state, the primary's last record and its age
//   vigil standby return           the manual return, refused until the primary is back and healthy
import * as net from 'node:net';
import { Command } from 'commander';
import { readKeyFile } from '../../cluster/cluster-key.js';
import { diskRecordKey, RecordTracker } from '../../cluster/disk-record.js';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../common/config.js';
import { fenceKeyFor } from '../../fencing/fence-key.js';
import { ScsiFence } from '../../fencing/scsi-fence.js';
import { createLinuxPlatform } from '../../platform/linux/index.js';
import type { Platform } from '../../platform/platform.js';
import { formatKey } from '../../platform/scsi/cdb.js';
import { PrimaryRecordReader } from '../../standby/primary-record-reader.js';
import { runListener } from '../../standby/standby-listener.js';
import { StandbyMachine } from '../../standby/standby-machine.js';
import { type StandbySettings, standbySettings } from '../../standby/standby-settings.js';
import { ensureStateDir, readStandbyState, type StandbyStateRecord, writeStandbyState } from '../../standby/standby-state-file.js';

const EXIT_REFUSED = 1;
const EXIT_CONFIG = 2;

function settingsFrom(configFile: string): StandbySettings | undefined {
  return standbySettings(loadConfig(configFile, { optional: configFile === DEFAULT_CONFIG_PATH }).config);
}

const say = (msg: string): void => void process.stdout.write(`vigil standby: ${msg}\n`);
const warn = (msg: string): void => void process.stderr.write(`vigil standby: ${msg}\n`);

function ioTimeout(s: StandbySettings): number {
  return Math.max(1000, Math.min(10_000, s.timeoutMs / 3));
}

async function openReader(s: StandbySettings, p: Platform, recordKey = diskRecordKey(readKeyFile(s.keyFile))): Promise<PrimaryRecordReader> {
  return PrimaryRecordReader.open(s.device, s.primary, recordKey, p, ioTimeout(s));
}

/** The listener: the unit's ExecStart. */
async function listen(configFile: string): Promise<void> {
  const s = settingsFrom(configFile);
  if (!s) return say('no recovery-server standby is configured (VIGIL_STANDBY_* unset): nothing to wait for');
  if (s.role !== 'standby') return say(`this system (${s.localSystem}) is ${s.role === 'primary' ? 'the primary' : `neither ${s.primary} nor ${s.standby}`}: nothing to wait for`);
  const previous = readStandbyState(s.stateDir);
  if (previous?.state === 'active') return say(`already active (${previous.why}); the return to listening is manual: vigil standby return`);
  ensureStateDir(s.stateDir);
  const p = createLinuxPlatform();
  const recordKey = diskRecordKey(readKeyFile(s.keyFile));
  let stop = false;
  const onTerm = () => (stop = true);
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onTerm);
  // Early in boot the LUN may not be there yet (an iSCSI login, a slow HBA): wait for it.
  let reader: PrimaryRecordReader | undefined;
  for (let told = false; !reader; ) {
    try {
      reader = await openReader(s, p, recordKey);
    } catch (err) {
      if (!told) warn(`cannot open ${s.device} yet (${(err as Error).message}); trying again every ${s.heartbeatIntervalMs / 1000} s, the boot waits`);
      told = true;
      if (stop) return void (process.exitCode = EXIT_REFUSED);
      await new Promise((r) => setTimeout(r, s.heartbeatIntervalMs));
    }
  }
  if (s.fence && reader.mode !== 'SG_IO') {
    warn(`${s.device} takes no SCSI commands (${reader.how}), so the primary cannot be fenced on it; use a SCSI LUN or set VIGIL_STANDBY_FENCE=off to take over unfenced`);
    process.exitCode = EXIT_CONFIG;
    return;
  }
  say(`listening for ${s.primary}'s disk heartbeat on ${s.device} (${reader.how}); time-out ${s.timeoutMs / 1000} s; the boot waits here`);
  const fence = new ScsiFence(p.scsi, { system: s.standby, commandTimeoutMs: ioTimeout(s), log: (_l, m) => say(m) });
  const primaryKey = fenceKeyFor(s.primary);
  const result = await runListener({
    primary: s.primary,
    timeoutMs: s.timeoutMs,
    intervalMs: s.heartbeatIntervalMs,
    io: reader.how,
    read: () => reader!.read(),
    fence: async () => {
      if (!s.fence) return 'not fenced (VIGIL_STANDBY_FENCE=off)';
      const r = await fence.takeOver(s.device);
      const hit = r.preempted.includes(formatKey(primaryKey));
      return `fenced: ${hit ? `preempted ${s.primary}'s key ${formatKey(primaryKey)}` : `${s.primary}'s key ${formatKey(primaryKey)} was not registered`}${r.preempted.length ? ` (preempted ${r.preempted.join(', ')})` : ''}; ${s.standby} holds the reservation with key ${r.key}`;
    },
    saveState: (r) => writeStandbyState(p.durableFiles, s.stateDir, r, 10_000),
    log: (level, msg) => (level === 'info' ? say(msg) : warn(msg)),
    nowMs: () => performance.now(),
    wallMs: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    stopped: () => stop,
  });
  if (result.state === 'active') {
    say(`taking over: ${result.why}; the boot continues`);
    return;
  }
  // Stopped while listening (shutdown, or the unit stopped): the boot must not continue into service.
  warn(`stopped while ${result.state}: ${result.why}`);
  process.exitCode = EXIT_REFUSED;
}

export interface StandbyStatus {
  configured: boolean;
  system?: string;
  role?: string;
  primary?: string;
  standby?: string;
  device?: string;
  timeoutMs?: number;
  fence?: boolean;
  state?: string;
  why?: string;
  since?: string;
  listenerRunning?: boolean;
  io?: string;
  primaryRecord?: { slot: number; seq: string; bootId: string; time: string; ageMs: number; state: string };
  readError?: string;
  heartbeats?: number;
  rejectedRecords?: number;
}

function pidAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function status(configFile: string): Promise<StandbyStatus> {
  const s = settingsFrom(configFile);
  if (!s) return { configured: false, why: 'no recovery-server standby is configured (VIGIL_STANDBY_* unset)' };
  const out: StandbyStatus = { configured: true, system: s.localSystem, role: s.role, primary: s.primary, standby: s.standby, device: s.device, timeoutMs: s.timeoutMs, fence: s.fence };
  const st: StandbyStateRecord | undefined = readStandbyState(s.stateDir);
  if (s.role === 'standby') {
    if (!st) Object.assign(out, { state: 'listening', why: 'the listener has not run on this system yet', listenerRunning: false });
    else {
      const running = pidAlive(st.pid);
      out.listenerRunning = running;
      out.state = st.state;
      out.why = st.state !== 'active' && !running ? `${st.why} (the listener is not running: it last wrote at ${new Date(st.updated).toISOString()})` : st.why;
      out.since = new Date(st.since).toISOString();
      out.heartbeats = st.heartbeats;
      out.rejectedRecords = st.rejectedRecords;
    }
  } else if (s.role === 'primary') {
    out.state = 'primary';
    out.why = `the primary writes its record through its DISK comm path on ${s.device}`;
  }
  try {
    const reader = await openReader(s, createLinuxPlatform());
    out.io = reader.how;
    const r = (await reader.read()).record;
    if (r) out.primaryRecord = { slot: r.slot, seq: r.seq.toString(), bootId: r.bootId.toString(16), time: new Date(r.timeMs).toISOString(), ageMs: Date.now() - r.timeMs, state: r.state };
  } catch (err) {
    out.readError = (err as Error).message;
  }
  return out;
}

function printStatus(st: StandbyStatus): void {
  if (!st.configured) return void process.stdout.write(`${st.why}\n`);
  const rows: Array<[string, string]> = [
    ['system', `${st.system} (role: ${st.role})`],
    ['roles', `primary ${st.primary}, standby ${st.standby}; time-out ${st.timeoutMs! / 1000} s; fence ${st.fence ? 'on' : 'off'}`],
    ['device', `${st.device}${st.io ? ` (${st.io})` : ''}`],
  ];
  if (st.state) rows.push(['state', `${st.state}${st.since ? ` since ${st.since}` : ''}`]);
  if (st.why) rows.push(['why', st.why]);
  const r = st.primaryRecord;
  rows.push(['primary record', r ? `sequence ${r.seq}, boot ${r.bootId}, ${r.state}, written ${r.time} (age ${(r.ageMs / 1000).toFixed(1)} s by this clock), slot ${r.slot}` : st.readError ? `unreadable: ${st.readError}` : `none: ${st.primary} has no record on the LUN${st.role === 'primary' ? ` (create its DISK comm path: net_create -S ${st.standby} -T DISK -D ${st.device})` : ''}`]);
  if (st.heartbeats !== undefined) rows.push(['heard', `${st.heartbeats} heartbeats, ${st.rejectedRecords} forged or misplaced records refused`]);
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(15)} ${v}\n`);
}

function adminSocketAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

/** The manual return's guard and the return itself. */
async function returnToListening(configFile: string, socket: string | undefined): Promise<void> {
  const cfg = loadConfig(configFile, { optional: configFile === DEFAULT_CONFIG_PATH }).config;
  const s = standbySettings(cfg);
  const refuse = (why: string) => {
    warn(`return refused: ${why}`);
    process.exitCode = EXIT_REFUSED;
  };
  if (!s) return refuse('no recovery-server standby is configured');
  if (s.role !== 'standby') return refuse(`this system (${s.localSystem}) is not the standby (${s.standby}); run the return there`);
  const st = readStandbyState(s.stateDir);
  if (st?.state !== 'active') return refuse(`nothing to return: the standby is ${st?.state ?? 'listening'}`);
  if (await adminSocketAnswers(socket ?? cfg.VIGIL_ADMIN_SOCKET)) return refuse('vigild is running here: stop it first (systemctl stop vigild) so the hierarchies leave this system for the primary');
  const p = createLinuxPlatform();
  const reader = await openReader(s, p);
  // Advancing: two reads a few heartbeats apart must show a newer record of the same, running primary.
  const tracker = new RecordTracker();
  const first = (await reader.read()).record;
  if (first) tracker.observe(first, Date.now());
  await new Promise((r) => setTimeout(r, Math.max(1000, 3 * s.heartbeatIntervalMs)));
  const second = (await reader.read()).record;
  const seen = second ? tracker.observe(second, Date.now()) : undefined;
  const problems: string[] = [];
  if (!second) problems.push(`${s.primary} has no record on ${s.device}`);
  else if (!seen?.heartbeat) problems.push(`${s.primary}'s record is not advancing (${seen?.why} at sequence ${second.seq})`);
  if (s.fence) {
    const keys = (await p.scsi.readKeys(s.device, { timeoutMs: ioTimeout(s) })).keys;
    if (!keys.includes(fenceKeyFor(s.primary))) problems.push(`${s.primary}'s key ${formatKey(fenceKeyFor(s.primary))} is not registered on ${s.device} (registered: ${keys.map(formatKey).join(', ') || 'none'})`);
  }
  const healthy = problems.length === 0;
  const m = new StandbyMachine({ primary: s.primary, timeoutMs: s.timeoutMs, nowMs: 0, initial: { state: 'active', why: st.why } });
  const why = healthy ? `${s.primary} is back: record advancing (sequence ${second!.seq})${s.fence ? ', key registered' : ''}` : problems.join('; ');
  for (const a of m.step({ type: 'return', nowMs: 0, primaryHealthy: healthy, why })) if (a.do === 'log') (a.level === 'info' ? say : warn)(a.msg);
  const snap = m.snapshot();
  if (snap.state !== 'listening') return void (process.exitCode = EXIT_REFUSED);
  await writeStandbyState(p.durableFiles, s.stateDir, { state: 'listening', why: snap.why, since: Date.now(), primary: s.primary, heartbeats: 0, rejectedRecords: 0, io: reader.how, updated: Date.now(), pid: 0 }, 10_000);
  say('the standby listens again from its next boot (or: systemctl restart vigil-standby)');
}

export function standbyCommand(socketOf: () => string | undefined): Command {
  const configOpt = (c: Command) => c.option('--config <file>', 'vigild configuration file', process.env.VIGIL_CONFIG || DEFAULT_CONFIG_PATH);
  // exitOverride (before the subcommands, which inherit it): a bad command line reaches vigil's
  // main, which exits 2 with one usage line.
  const root = configOpt(new Command('standby').enablePositionalOptions().exitOverride())
    .description("recovery-server standby: wait early in boot, listening to the primary's disk heartbeat, and take over when it stops")
    .action(async (o: { config: string }) => listen(o.config));
  configOpt(root.command('status'))
    .description("the standby monitor: role, state and why, the primary's last record and its age")
    .option('--json', 'print the status as JSON')
    .action(async (o: { config: string; json?: boolean }, cmd: Command) => {
      const st = await status(o.config);
      const json = o.json || (cmd.parent?.parent?.opts().json as boolean | undefined);
      if (json) process.stdout.write(JSON.stringify(st, null, 2) + '\n');
      else printStatus(st);
    });
  configOpt(root.command('return'))
    .description('manual return: put the standby back to listening once the primary is back and healthy')
    .action(async (o: { config: string }) => returnToListening(o.config, socketOf()));
  return root;
}

