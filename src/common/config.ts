// vigild's configuration: /etc/default/vigil, a KEY=VALUE file in the style of
// /etc/default/LifeKeeper, with the seeds' tunable names where they exist plus Vigil's own
// VIGIL_* keys. Every value is validated; an invalid one is an error that names the key and
// the rule. Keys this file does not know are kept in `raw` for kits with their own tunables.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { z } from 'zod';
import { DEFAULT_CONFIG_PATH, parseKeyValueText } from './config-file.js';
import { VigilError } from './errors.js';

export { DEFAULT_CONFIG_PATH, parseKeyValueText };
export const ERR_NAS_DEFAULTS_ILLOGICAL = 107009;

/** Seconds as a decimal number ("5", "0.2"). */
const seconds = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, { message: 'must be a number of seconds such as 5 or 0.2' })
    .transform(Number)
    .pipe(z.number().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }));

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }));

const absolutePath = z.string().regex(/^\/\S*$/, { message: 'must be an absolute path without spaces' });

/** host:port with an IPv4 literal, [IPv6] literal or name; or "off" to disable. */
const listenAddress = z
  .string()
  .transform((s, ctx) => {
    if (s === 'off') return undefined;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(s);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: 'must be HOST:PORT (e.g. 127.0.0.1:9787 or [::1]:9787) or off' });
      return z.NEVER;
    }
    return { host: (m[1] ?? m[2])!, port };
  });

function defaultNodeName(): string {
  return os.hostname().split('.')[0]!.replace(/[^A-Za-z0-9._-]/g, '-') || 'localhost';
}

const ConfigSchema = z.object({
  LCMHBEATTIME: seconds(0.05, 60).prefault('5'),
  LCMNUMHBEATS: integer(2, 100).prefault('3'),
  LKCHECKINTERVAL: seconds(1, 86400).prefault('120'),
  LKNFSTIMEOUT: seconds(1, 3600).prefault('120'),
  LKNFSSYSCALLTO: seconds(0.1, 600).prefault('5'),
  LKNASERROR: z.enum(['switch', 'halt'], { message: 'must be switch or halt' }).default('switch'),
  QUORUM_MODE: z
    .enum(['majority', 'tcp_remote', 'storage', 'none'], { message: 'must be majority, tcp_remote, storage or none' })
    .default('majority'),
  VIGIL_SCSI_FENCE: z.enum(['on', 'off'], { message: 'must be on or off' }).default('off'), // gen/filesys default for fence=scsi (docs/fencing.md)
  VIGIL_NODE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      message: 'must be 1-64 letters, digits, "-", "_" or "." starting with a letter or digit',
    })
    .default(defaultNodeName),
  VIGIL_STATE_DIR: absolutePath.default('/var/lib/vigil'),
  VIGIL_ADMIN_SOCKET: absolutePath.default('/run/vigil/admin.sock'),
  VIGIL_KEY_FILE: absolutePath.default('/etc/vigil/cluster.key'),
  VIGIL_METRICS_ADDRESS: listenAddress.prefault('127.0.0.1:9787'),
  // Time limit of one durable LCD write; past it the change is refused (or, after the commit
  // point, kept in memory) and the agent carries on while the disk is stuck.
  VIGIL_LCD_WRITE_TIMEOUT_MS: integer(100, 600_000).prefault('10000'),
  VIGIL_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

type Parsed = z.output<typeof ConfigSchema>;

export interface VigilConfig extends Parsed {
  /** Every KEY=VALUE from the file, known or not, as written (for kits' own tunables). */
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

/** Validate KEY=VALUE pairs into a VigilConfig, applying defaults and the seeds' fallback rules. */
export function buildConfig(values: Record<string, string>, source = ''): LoadedConfig {
  const known: Record<string, string> = {};
  for (const k of KNOWN_CONFIG_KEYS) if (values[k] !== undefined) known[k] = values[k]!;
  const r = ConfigSchema.safeParse(known);
  if (!r.success) {
    const problems = r.error.issues.map((i) => {
      const key = String(i.path[0] ?? '?');
      return `${key}=${JSON.stringify(known[key] ?? '')}: ${i.message}`;
    });
    throw new VigilError(0, `invalid configuration${source ? ` in ${source}` : ''}: ${problems.join('; ')}`, {
      source,
      keys: r.error.issues.map((i) => String(i.path[0])),
    });
  }
  const config: VigilConfig = { ...r.data, raw: { ...values }, source };
  const warnings: ConfigWarning[] = [];
  // Seed rule 107009: an NFS probe needs room for three timed system calls plus slack inside
  // the overall timeout; otherwise fall back to the product defaults.
  if (3 * config.LKNFSSYSCALLTO + 5 >= config.LKNFSTIMEOUT) {
    warnings.push({
      number: ERR_NAS_DEFAULTS_ILLOGICAL,
      key: 'LKNFSTIMEOUT',
      message:
        `illogical NAS settings on ${config.VIGIL_NODE_NAME} (3 x LKNFSSYSCALLTO ${config.LKNFSSYSCALLTO} + 5 >= ` +
        `LKNFSTIMEOUT ${config.LKNFSTIMEOUT}); using 120 for LKNFSTIMEOUT and 5 for LKNFSSYSCALLTO`,
    });
    config.LKNFSTIMEOUT = 120;
    config.LKNFSSYSCALLTO = 5;
  }
  return { config, warnings };
}

/** Read and validate a configuration file. A missing file yields the defaults only when `optional`. */
export function loadConfig(file = DEFAULT_CONFIG_PATH, opts: { optional?: boolean } = {}): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && opts.optional) return buildConfig({}, '');
    throw new VigilError(0, `cannot read configuration ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  return buildConfig(parseKeyValueText(text, file), file);
}
