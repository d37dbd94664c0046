// eqv_list, eqv_create, eqv_remove: equivalencies between a resource and its equivalents.
import { VigilError } from '../../common/errors.js';
import type { AdminCommands } from '../registry.js';
import { allowOnly, formatRows, intOpt, need, ok, opt, separator } from './options.js';

function eqvType(v: string | undefined): 'SHARED' | undefined {
  if (v === undefined) return undefined;
  if (v.toUpperCase() !== 'SHARED') throw new VigilError(0, `invalid equivalency type "${v}": must be SHARED`);
  return 'SHARED';
}

export function registerEquivalencyCommands(commands: AdminCommands): void {
  commands.register('eqv_list', async (req, ctx) => {
    allowOnly(req, 'stSoef');
    const rows = ctx.lcd.equivalencies({
      system: opt(req, 's'),
      tag: opt(req, 't'),
      otherSystem: opt(req, 'S'),
      otherTag: opt(req, 'o'),
      type: eqvType(opt(req, 'e')),
    });
    return ok(
      formatRows(rows.map((e) => [e.system, e.tag, e.otherSystem, e.otherTag, e.type, e.priority, e.otherPriority]), separator(req)),
      rows,
    );
  });

  commands.register('eqv_create', async (req, ctx) => {
    allowOnly(req, 'stpSore');
    const system = opt(req, 's') ?? ctx.localSystem;
    const tag = need(req, 't', 'tag');
    // The resource's own priority defaults to the one it already has in other equivalencies, else 1.
    const existing = ctx.lcd.equivalencies({ system, tag })[0];
    const created = await ctx.lcd.createEquivalency({
      system,
      tag,
      otherSystem: need(req, 'S', 'othersys'),
      otherTag: opt(req, 'o') ?? tag,
      type: eqvType(opt(req, 'e')) ?? 'SHARED',
      priority: intOpt(req, 'p', 'priority', existing?.priority ?? 1)!,
      otherPriority: intOpt(req, 'r', 'other priority') ?? Number(need(req, 'r', 'otherpriority')),
    });
    ctx.log.info({ equivalency: created }, 'equivalency created');
    return ok('', created);
  });

  commands.register('eqv_remove', async (req, ctx) => {
    allowOnly(req, 'stSoe');
    const removed = await ctx.lcd.removeEquivalencies({
      system: opt(req, 's') ?? ctx.localSystem,
      tag: need(req, 't', 'tag'),
      otherSystem: opt(req, 'S'),
      otherTag: opt(req, 'o'),
      type: eqvType(opt(req, 'e')),
    });
    ctx.log.info({ removed }, 'equivalencies removed');
    return ok('', removed);
  });
}
