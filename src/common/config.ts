// vigild's configuration: /etc/default/vigil, a KEY=VALUE file in the style of
// /etc/default/LifeKeeper, with the seeds' tunable names where they exist plus Vigil's own
// VIGIL_* keys. Every key is declared once in ConfigSchema below, with its rule, default and
// meaning (docs/configuration.md and deploy/default/vigil are generated from it by
// scripts/gen-config-docs.ts). Everything is validated before any subsystem starts: an invalid
// value is an error naming the key and the rule, an unknown key is an error naming the nearest
// known one, and a mode this version does not implement is refused, never replaced.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { z } from 'zod';
import { DEFAULT_CONFIG_PATH, parseKeyValueText } from './config-file.js';
import { CORE_ERRORS, renderMessage } from './error-table.js';
import { VigilError } from './errors.js';

export { DEFAULT_CONFIG_PATH, parseKeyValueText };
export const ERR_NAS_DEFAULTS_ILLOGICAL = CORE_ERRORS.NAS_DEFAULTS_ILLOGICAL.number;

/** What the reference shows for a key's value (attached to the validator with .meta()). */
export interface ValueDoc {
  type: string;
  range: string;
}

const valueDoc = (type: string, range: string): ValueDoc & Record<string, unknown> => ({ type, range });

/** Seconds as a decimal number ("5", "0.2"). */
const seconds = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, { message: 'must be a number of seconds such as 5 or 0.2' })
    .transform(Number)
    .pipe(z.number().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }))
    .meta(valueDoc('seconds', `${min} to ${max}`));

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }))
    .meta(valueDoc('whole number', `${min} to ${max}`));

/**
 * One of `values`; a value in `notImplemented` (a mode of the product this version lacks) is
 * refused with its own reason instead of being silently replaced by another mode.
 */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, notImplemented: Record<string, string> = {}) =>
  z
    .string()
    .superRefine((s, ctx) => {
      if (notImplemented[s] !== undefined) ctx.addIssue({ code: 'custom', message: notImplemented[s] });
      else if (!values.includes(s)) ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}` });
    })
    .transform((s) => s as T[number])
    .meta(valueDoc('one of', values.join(', ')));

const absolutePath = z
  .string()
  .regex(/^\/\S*$/, { message: 'must be an absolute path without spaces' })
  .meta(valueDoc('path', 'absolute, no spaces'));

/** host:port with an IPv4 literal, [IPv6] literal or name; or "off" to disable. */
const listenAddress = z
  .string()
  .transform((s, ctx) => {
    if (s === 'off') return undefined;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(s);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: 'must be HOST:PORT (e.g. 127.0.0.1:9787 or [::1]:9787, port 1 to 65535) or off' });
      return z.NEVER;
    }
    return { host: (m[1] ?? m[2])!, port };
  })
  .meta(valueDoc('HOST:PORT or off', 'port 1 to 65535'));

/** A witness host as HOST:PORT (IPv4 literal, [IPv6] literal or name). */
export interface QuorumHost {
  host: string;
  port: number;
}

/** QUORUM_HOSTS: one or more HOST:PORT separated by commas or spaces, no repeats. */
const hostList = z
  .string()
  .transform((s, ctx) => {
    const hosts: QuorumHost[] = [];
    for (const item of s.split(/[\s,]+/).filter(Boolean)) {
      const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(item);
      const port = m ? Number(m[3]) : NaN;
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${item}" must be HOST:PORT (e.g. 10.0.0.9:7370 or [fd00::9]:7370, port 1 to 65535)` });
        return z.NEVER;
      }
      const h = { host: (m[1] ?? m[2])!, port };
      if (hosts.some((x) => x.host === h.host && x.port === h.port)) {
        ctx.addIssue({ code: 'custom', message: `"${item}" is listed twice` });
        return z.NEVER;
      }
      hosts.push(h);
    }
    if (hosts.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must name at least one HOST:PORT' });
      return z.NEVER;
    }
    return hosts;
  })
  .meta(valueDoc('HOST:PORT list', 'commas or spaces between entries'));

const nodeName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: 'must be 1-64 letters, digits, "-", "_" or "." starting with a letter or digit',
  })
  .meta(valueDoc('name', '1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit'));

function defaultNodeName(): string {
  return os.hostname().split('.')[0]!.replace(/[^A-Za-z0-9._-]/g, '-') || 'localhost';
}

// One line per key: validator, default (.prefault for text that is parsed, .default for a
// final value, .optional() for none) and meaning (.describe). Keep the meaning one sentence;
// it is what docs/configuration.md and the example file show.
const ConfigSchema = z.object({
  LCMHBEATTIME: seconds(0.05, 60).prefault('5').describe('Seconds between two heartbeats on each comm path.'),
  LCMNUMHBEATS: integer(2, 100).prefault('3').describe('Heartbeats missed in a row before a comm path is declared dead; a system is dead when all its paths are.'),
  VIGIL_COMM_CONNECT_GRACE: seconds(1, 3600).prefault('60').describe('Seconds a comm path that has never connected is left UNKNOWN without a warning while the cluster forms (a system never heard from is never declared dead).'),
  LKCHECKINTERVAL: seconds(1, 86400).prefault('120').describe('Seconds between two quickChecks of each resource in service.'),
  LKCHECKINTERVAL_GEN_APP: seconds(1, 86400).optional().describe('quickCheck interval of gen/app resources (default: LKCHECKINTERVAL).'),
  LKCHECKINTERVAL_GEN_FILESYS: seconds(1, 86400).optional().describe('quickCheck interval of gen/filesys resources (default: LKCHECKINTERVAL).'),
  LKCHECKINTERVAL_GEN_NAS: seconds(1, 86400).optional().describe('quickCheck interval of gen/nas resources (NFS exports; default: LKCHECKINTERVAL).'),
  LKNFSTIMEOUT: seconds(1, 3600).prefault('120').describe('NAS: how long an NFS export may go without one successful probe before it is declared failed; with LKNFSSYSCALLTO checked by seed rule 107009.'),
  LKNFSSYSCALLTO: seconds(0.1, 600).prefault('5').describe('NAS: time limit of one probe system call on an NFS mount; a call past it is abandoned on its thread and the probe repeated.'),
  LKNASERROR: oneOf(['switch', 'halt']).default('switch').describe('NAS: what a failed NFS export does: switch the hierarchy to the backup, or halt this node at once.'),
  VIGIL_NAS_TMPDIR: absolutePath.optional().describe('NAS: directory for the temporary mount points of the create-time mount-authorization check (default: the system temp directory).'),
  VIGIL_SCSI_FENCE: oneOf(['on', 'off']).default('off').describe('Default of gen/filesys resources that do not set fence= themselves: on fences their shared LUN with a SCSI-3 persistent reservation (docs/fencing.md).'),
  QUORUM_MODE: oneOf(['majority', 'tcp_remote', 'storage', 'none'])
    .default('majority')
    .describe('What a system needs before it brings anything in service: a majority of the systems alive, each QUORUM_HOSTS entry one more vote (majority; two systems without QUORUM_HOSTS: the survivor), more than half of QUORUM_HOSTS reachable (tcp_remote), its own heartbeat record on QUORUM_DISK kept up and its reservation key there (storage), or nothing (none, split brain possible); see docs/quorum.md.'),
  QUORUM_HOSTS: hostList.optional().describe('Witness hosts as HOST:PORT, separated by commas or spaces: a TCP connect within QUORUM_TIMEOUT_SECS counts the host reachable (needed by tcp_remote; with majority each one is a vote).'),
  QUORUM_TIMEOUT_SECS: seconds(0.1, 3600).prefault('20').describe('Time limit of one quorum probe of a QUORUM_HOSTS entry, and of a remote_verify question to the other systems.'),
  WITNESS_MODE: oneOf(['remote_verify', 'storage', 'none'])
    .default('remote_verify')
    .describe('Before a system is declared dead and its hierarchies taken over, ask the other visible systems whether they still see it; one that does stops the takeover (remote_verify), wait until its heartbeat record on QUORUM_DISK stood still for QWK_STORAGE_NUMHBEATS x QWK_STORAGE_HBEATTIME (storage), or take over on this system\'s view alone (none).'),
  QUORUM_LOSS_ACTION: oneOf(['osu', 'fastkill', 'fastboot'])
    .default('osu')
    .describe('What a system that loses quorum does: take every hierarchy out of service (osu), power off at once without syncing (fastkill) or reboot at once without syncing (fastboot).'),
  QUORUM_QUARANTINE_SECS: seconds(0, 86400).prefault('0').describe('After vigild starts, and after this system regained quorum, how long quorum must hold before it brings anything in service again.'),
  QUORUM_DISK: absolutePath.optional().describe('The shared LUN of storage quorum and storage witness (QUORUM_MODE=storage, WITNESS_MODE=storage): every system writes its heartbeat record into a reserved area of it, 768 KiB from its start; with QUORUM_MODE=storage its SCSI-3 persistent reservations decide who survives, so it must be a LUN of its own, not one a hierarchy uses.'),
  QWK_STORAGE_HBEATTIME: seconds(0.2, 600).prefault('6').describe('Storage quorum and witness: seconds between two writes of this system\'s heartbeat record on QUORUM_DISK (each read or write has half of it as its time limit).'),
  QWK_STORAGE_NUMHBEATS: integer(3, 100).prefault('4').describe('Storage quorum and witness: another system\'s record must stand still this many intervals before it counts as stopped; this system itself has no quorum once its own record was not written for one interval less.'),
  WATCHDOG_DEVICE: z
    .string()
    .regex(/^(\/\S*)?$/, { message: 'must be an absolute path without spaces (e.g. /dev/watchdog), or empty for none' })
    .transform((s) => s || undefined)
    .meta(valueDoc('path or empty', 'absolute, no spaces'))
    .optional()
    .describe('Self-fencing: the kernel watchdog device (e.g. /dev/watchdog; softdog if the machine has no hardware one) that resets this system when its event loop stops renewing its lease while anything is in service here, so a starved or frozen system stops serving before a survivor takes over; vigild refuses to start if it cannot arm it. Empty: no watchdog (see docs/quorum.md).'),
  WATCHDOG_TIMEOUT_SECS: integer(2, 600).prefault('5').describe('Self-fencing: the watchdog timeout set on WATCHDOG_DEVICE (the driver may round it; vigild uses what it reads back): a lapsed lease resets the system within this many seconds, and survivors wait the lease plus this before taking over.'),
  VIGIL_NODE_NAME: nodeName.default(defaultNodeName).meta({ description: 'This system\'s name in the cluster.', defaultDoc: 'the host name up to its first dot' }),
  VIGIL_STATE_DIR: absolutePath.default('/var/lib/vigil').describe('Directory of the LCD (the local configuration database).'),
  VIGIL_ADMIN_SOCKET: absolutePath.default('/run/vigil/admin.sock').describe('Unix socket of the administration commands (root only; its directory must be root\'s, mode 0700).'),
  VIGIL_KEY_FILE: absolutePath.default('/etc/vigil/cluster.key').describe('The cluster key that authenticates every message between systems (made by `vigil keygen`).'),
  VIGIL_REALTIME_PRIORITY: integer(0, 99).prefault('10').describe('SCHED_RR priority of the event loop that sends and checks heartbeats, with its code locked in memory; 0 turns both off.'),
  VIGIL_METRICS_ADDRESS: listenAddress.prefault('127.0.0.1:9787').describe('Where the Prometheus endpoint (/metrics, /healthz) listens, or off.'),
  VIGIL_LCD_WRITE_TIMEOUT_MS: integer(100, 600_000).prefault('10000').describe('Milliseconds one durable LCD write may take; past it the change is refused and vigild carries on while the disk is stuck.'),
  VIGIL_LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Least severe log level written to the journal.'),
  VIGIL_LOCAL_RECOVERY_ATTEMPTS: integer(1, 1000).prefault('3').describe('Local recoveries of one resource allowed within VIGIL_LOCAL_RECOVERY_WINDOW before its hierarchy fails over.'),
  VIGIL_LOCAL_RECOVERY_WINDOW: seconds(1, 604800).prefault('600').describe('Seconds over which VIGIL_LOCAL_RECOVERY_ATTEMPTS are counted.'),
  VIGIL_HALT_ACTION: oneOf(['exit', 'sysrq']).default('exit').describe('What a kit\'s halt request does: exit (vigild ends itself and every process it started) or sysrq (immediate power-off).'),
  VIGIL_FSTAB: absolutePath.default('/etc/fstab').describe('The fstab that gen/filesys edits.'),
  VIGIL_STANDBY_PRIMARY: nodeName.optional().describe('Recovery-server standby: the fixed primary, whose disk heartbeat record `vigil standby` listens to (docs/standby.md).'),
  VIGIL_STANDBY_SECONDARY: nodeName.optional().describe('Recovery-server standby: the fixed standby, which halts early in its boot in `vigil standby` until the primary\'s heartbeat stops.'),
  VIGIL_STANDBY_DEVICE: absolutePath.optional().describe('Recovery-server standby: the shared LUN holding the disk heartbeat area (the primary\'s DISK comm path device).'),
  VIGIL_STANDBY_TIMEOUT: seconds(1, 3600).prefault('30').describe('Recovery-server standby: seconds without an advancing primary record before the standby fences the primary and takes over.'),
  VIGIL_STANDBY_FENCE: oneOf(['on', 'off']).default('on').describe('Recovery-server standby: on preempts the primary\'s SCSI-3 reservation key before taking over (needs a SCSI LUN); off takes over unfenced.'),
  LKDR_SPEED_LIMIT: z.string().regex(/^(system|[1-9]\d{0,7})$/, 'must be system or a whole number of KiB/s from 1 to 10000000').meta(valueDoc('system or whole number', '1 to 10000000')).optional().describe('NetRAID: resync speed ceiling of each mirror in KiB/s (md\'s sync_speed_max), or system for md\'s own default.'),
  VIGIL_NBD_TIMEOUT: integer(1, 3600).optional().describe('NetRAID: seconds an NBD request to the backup may take before md fails the backup half (default 10).'),
  VIGIL_NETRAID_BITMAP_CHUNK_KB: integer(64, 1_048_576).optional().describe('NetRAID: write-intent bitmap chunk in KiB, a power of two: the unit a resync after an outage copies (default 4096).'),
  VIGIL_NETRAID_CALL_TIMEOUT_MS: integer(100, 3_600_000).optional().describe('NetRAID: time limit of each md/NBD call and mdadm run, in milliseconds (default 30000).'),
  VIGIL_NETRAID_LINK_HOLD: integer(1, 600).optional().describe('NetRAID: seconds the primary holds writes after the replication link died, until the backup records itself out of date, the link returns or the backup is declared dead; past it the kernel drops the backup half on its own (default 2 x LCMHBEATTIME x LCMNUMHBEATS + 10).'),
});

type Parsed = z.output<typeof ConfigSchema>;

export interface VigilConfig extends Parsed {
  /** Every KEY=VALUE from the file, as written. */
  raw: Record<string, string>;
  /** Where the configuration was read from ('' when built from defaults only). */
  source: string;
}

export interface ConfigWarning {
  /** Product error number (e.g. 107009) or 0. */
  number: number;
  key: string;
  message: string;
}

export interface LoadedConfig {
  config: VigilConfig;
  warnings: ConfigWarning[];
}

export const KNOWN_CONFIG_KEYS = Object.keys(ConfigSchema.shape) as (keyof Parsed)[];

/** The schema itself, for the generated reference (scripts/gen-config-docs.ts). */
export const CONFIG_SCHEMA = ConfigSchema;

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known key closest to `key`, when it is close enough to be a likely typo. */
export function nearestKnownKey(key: string): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of KNOWN_CONFIG_KEYS) {
    const d = distance(key.toUpperCase(), k);
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.k : undefined;
}

/** Validate KEY=VALUE pairs into a VigilConfig, applying defaults and the seeds' fallback rules. */
export function buildConfig(values: Record<string, string>, source = ''): LoadedConfig {
  const known: Record<string, string> = {};
  const problems: string[] = [];
  const badKeys: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if ((KNOWN_CONFIG_KEYS as string[]).includes(k)) known[k] = v;
    else {
      const near = nearestKnownKey(k);
      problems.push(`${k}: unknown key${near ? ` (did you mean ${near}?)` : ''}`);
      badKeys.push(k);
    }
  }
  const r = ConfigSchema.safeParse(known);
  if (!r.success) {
    for (const i of r.error.issues) {
      const key = String(i.path[0] ?? '?');
      problems.push(`${key}=${JSON.stringify(known[key] ?? '')}: ${i.message}`);
      badKeys.push(key);
    }
  }
  if (r.success && r.data.QUORUM_MODE === 'tcp_remote' && !r.data.QUORUM_HOSTS) {
    problems.push('QUORUM_MODE="tcp_remote": needs QUORUM_HOSTS (the witness hosts whose reachability decides quorum)');
    badKeys.push('QUORUM_MODE');
  }
  if (r.success && r.data.QUORUM_MODE === 'none' && r.data.QUORUM_HOSTS) {
    problems.push('QUORUM_HOSTS: has no effect with QUORUM_MODE=none (remove it, or use majority or tcp_remote)');
    badKeys.push('QUORUM_HOSTS');
  }
  const storageModes = r.success && (r.data.QUORUM_MODE === 'storage' || r.data.WITNESS_MODE === 'storage');
  if (r.success && storageModes && !r.data.QUORUM_DISK) {
    const key = r.data.QUORUM_MODE === 'storage' ? 'QUORUM_MODE' : 'WITNESS_MODE';
    problems.push(`${key}="storage": needs QUORUM_DISK (the shared LUN that holds every system's heartbeat record)`);
    badKeys.push(key);
  }
  if (r.success && !storageModes && r.data.QUORUM_DISK) {
    problems.push('QUORUM_DISK: has no effect unless QUORUM_MODE or WITNESS_MODE is storage');
    badKeys.push('QUORUM_DISK');
  }
  if (r.success && r.data.QUORUM_MODE === 'storage' && r.data.QUORUM_HOSTS) {
    problems.push('QUORUM_HOSTS: has no effect with QUORUM_MODE=storage (the quorum disk decides; remove it, or use majority or tcp_remote)');
    badKeys.push('QUORUM_HOSTS');
  }
  if (!r.success || problems.length) {
    throw new VigilError(0, `invalid configuration${source ? ` in ${source}` : ''}: ${problems.join('; ')}`, { source, keys: badKeys });
  }
  const config: VigilConfig = { ...r.data, raw: { ...values }, source };
  const warnings: ConfigWarning[] = [];
  // Seed rule 107009: an NFS probe needs room for three timed system calls plus slack inside
  // the overall timeout; otherwise fall back to the product defaults.
  if (3 * config.LKNFSSYSCALLTO + 5 >= config.LKNFSTIMEOUT) {
    warnings.push({
      number: ERR_NAS_DEFAULTS_ILLOGICAL,
      key: 'LKNFSTIMEOUT',
      message: renderMessage(ERR_NAS_DEFAULTS_ILLOGICAL, {
        server: config.VIGIL_NODE_NAME,
        LKNFSSYSCALLTO: config.LKNFSSYSCALLTO,
        LKNFSTIMEOUT: config.LKNFSTIMEOUT,
      }),
    });
    config.LKNFSTIMEOUT = 120;
    config.LKNFSSYSCALLTO = 5;
  }
  return { config, warnings };
}

/**
 * Read and validate a configuration file. A missing file yields the defaults only when
 * `optional`. The file steers what runs as root (VIGIL_FSTAB, the key file), so one that group
 * or others may write is refused.
 */
export function loadConfig(file = DEFAULT_CONFIG_PATH, opts: { optional?: boolean } = {}): LoadedConfig {
  let text: string;
  let mode: number;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      mode = fs.fstatSync(fd).mode;
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && opts.optional) return buildConfig({}, '');
    throw new VigilError(0, `cannot read configuration ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  if ((mode & 0o022) !== 0) {
    throw new VigilError(
      0,
      `configuration ${file} is writable by ${mode & 0o020 ? (mode & 0o002 ? 'group and others' : 'group') : 'others'} ` +
        `(mode ${(mode & 0o7777).toString(8).padStart(4, '0')}); refusing it: run chmod go-w ${file}`,
      { file },
    );
  }
  return buildConfig(parseKeyValueText(text, file), file);
}
