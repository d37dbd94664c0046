// net_list, net_create, net_remove: comm paths between this system and the others.
import { VigilError } from '../../common/errors.js';
import type { CommPathFilter } from '../../lcd/lcd.js';
import { commPathKey, type CommPath, type CommPathInput } from '../../lcd/schema.js';
import type { AgentContext } from '../context.js';
import { UsageError, type AdminCommands } from '../registry.js';
import { allowOnly, formatRows, intOpt, need, ok, opt, separator } from './options.js';

const TYPES = ['TCP', 'TTY', 'DISK'] as const;

function pathType(v: string | undefined): CommPath['type'] | undefined {
  if (v === undefined) return undefined;
  const t = v.toUpperCase();
  if (!(TYPES as readonly string[]).includes(t)) throw new VigilError(0, `invalid comm path type "${v}": must be TCP, TTY or DISK`);
  return t as CommPath['type'];
}

/**
 * A path's state as the cluster layer sees it now, with the reason when it is not ALIVE
 * ("DEAD (bad key)"); the LCD's last-known state when the cluster layer has no view of it.
 */
export function commPathState(p: CommPath, ctx: Pick<AgentContext, 'cluster' | 'localSystem'>): { state: string; reason?: string } {
  return (p.system === ctx.localSystem ? ctx.cluster?.pathStatus(commPathKey(p)) : undefined) ?? { state: p.state };
}

/** One net_list line: common fields, then the type's endpoint fields. */
export function commPathFields(p: CommPath, shown?: { state: string; reason?: string }): (string | number)[] {
  const state = shown ? shown.state + (shown.reason ? ` (${shown.reason})` : '') : p.state;
  const head = [p.system, p.otherSystem, p.type, p.priority, state];
  switch (p.type) {
    case 'TCP':
      return [...head, p.localAddress, p.remoteAddress, p.port];
    case 'TTY':
      return [...head, p.device, p.baud];
    case 'DISK':
      return [...head, p.device];
  }
}

export function registerNetCommands(commands: AdminCommands): void {
  commands.register('net_list', async (req, ctx) => {
    allowOnly(req, 'sSTf');
    const paths = ctx.lcd
      .commPaths({ system: opt(req, 's'), otherSystem: opt(req, 'S'), type: pathType(opt(req, 'T')) })
      .sort((a, b) => a.otherSystem.localeCompare(b.otherSystem) || a.priority - b.priority);
    const shown = paths.map((p) => commPathState(p, ctx));
    // DISK rows of this system end with how the device is reached (SG_IO, or O_DIRECT where SG_IO does not apply).
    const rows = paths.map((p, i) => {
      const fields = commPathFields(p, shown[i]);
      return p.type === 'DISK' && p.system === ctx.localSystem && ctx.diskPathIo ? [...fields, ctx.diskPathIo(p.device) ?? 'not running'] : fields;
    });
    return ok(
      formatRows(rows, separator(req)),
      paths.map((p, i) => ({ ...p, state: shown[i]!.state, ...(shown[i]!.reason ? { reason: shown[i]!.reason } : {}) })),
    );
  });

  commands.register('net_create', async (req, ctx) => {
    allowOnly(req, 'sSTlrPDbp');
    const system = opt(req, 's') ?? ctx.localSystem;
    const otherSystem = need(req, 'S', 'othersys');
    const type = pathType(need(req, 'T', 'type'))!;
    let priority = intOpt(req, 'p', 'priority');
    if (priority === undefined) {
      const used = new Set(ctx.lcd.commPaths({ system, otherSystem }).map((p) => p.priority));
      priority = 1;
      while (used.has(priority)) priority++;
    }
    const common = { system, otherSystem, priority };
    // A TCP or TTY path is useless without the cluster key: refuse it now rather than store a
    // path that can never come up, with no word.
    const keyProblem = type !== 'DISK' ? ctx.cluster?.keyProblem() : undefined;
    if (keyProblem) throw new VigilError(0, `cannot create a ${type} comm path: ${keyProblem}`);
    let input: CommPathInput;
    if (type === 'TCP') {
      if (opt(req, 'D') !== undefined || opt(req, 'b') !== undefined) throw new UsageError('-D and -b apply to TTY and DISK paths');
      input = {
        type,
        ...common,
        localAddress: need(req, 'l', 'laddr'),
        remoteAddress: need(req, 'r', 'raddr'),
        port: intOpt(req, 'P', 'port'),
      };
    } else {
      if (opt(req, 'l') !== undefined || opt(req, 'r') !== undefined || opt(req, 'P') !== undefined) {
        throw new UsageError('-l, -r and -P apply to TCP paths');
      }
      if (type === 'TTY') input = { type, ...common, device: need(req, 'D', 'device'), baud: intOpt(req, 'b', 'baud') };
      else {
        if (opt(req, 'b') !== undefined) throw new UsageError('-b applies to TTY paths');
        input = { type, ...common, device: need(req, 'D', 'device') };
        if (system === ctx.localSystem && ctx.checkDiskPathDevice) await ctx.checkDiskPathDevice(input.device);
      }
    }
    const created = await ctx.lcd.createCommPath(input);
    ctx.log.info({ path: created }, 'comm path created');
    return ok('', created);
  });

  commands.register('net_remove', async (req, ctx) => {
    allowOnly(req, 'sSTlrDp');
    const known = new Set(ctx.lcd.systems().map((s) => s.name));
    if (Object.keys(req.options).length === 0) {
      // The seeds' clean-up after sys_remove: the paths whose other end is no longer a system.
      const orphans = ctx.lcd.commPaths({ system: ctx.localSystem }).filter((p) => !known.has(p.otherSystem));
      if (!orphans.length) return ok('', []);
      const removed: CommPath[] = [];
      for (const other of new Set(orphans.map((p) => p.otherSystem))) {
        removed.push(...(await ctx.lcd.removeCommPaths({ system: ctx.localSystem, otherSystem: other })));
      }
      ctx.log.info({ removed }, 'comm paths to removed systems removed');
      return ok('', removed);
    }
    const otherSystem = need(req, 'S', 'othersys');
    // After sys_remove (which takes the system's paths with it) the seeds' net_remove finds nothing left.
    if (!known.has(otherSystem) && !ctx.lcd.commPaths({ otherSystem }).length) return ok('', []);
    const filter: CommPathFilter = {
      system: opt(req, 's') ?? ctx.localSystem,
      otherSystem,
      type: pathType(opt(req, 'T')),
      localAddress: opt(req, 'l'),
      remoteAddress: opt(req, 'r'),
      device: opt(req, 'D'),
      priority: intOpt(req, 'p', 'priority'),
    };
    const removed = await ctx.lcd.removeCommPaths(filter);
    ctx.log.info({ removed }, 'comm paths removed');
    return ok('', removed);
  });
}
