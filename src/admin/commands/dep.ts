// dep_list, dep_create, dep_remove: parent/child dependencies between local resources.
import { CORE_ERRORS } from '../../common/error-table.js';
import { tableError } from '../../common/errors.js';
import type { AdminCommands } from '../registry.js';
import { ancestors, descendants } from './hierarchy-walk.js';
import { allowOnly, formatRows, need, ok, opt, separator } from './options.js';

export function registerDependencyCommands(commands: AdminCommands): void {
  commands.register('dep_list', async (req, ctx) => {
    allowOnly(req, 'fCPcp');
    const all = ctx.lcd.dependencies({ system: ctx.localSystem });
    let rows = all.filter((d) => (opt(req, 'c') ?? d.childTag) === d.childTag && (opt(req, 'p') ?? d.parentTag) === d.parentTag);
    const below = opt(req, 'C');
    const above = opt(req, 'P');
    for (const t of [below, above]) {
      if (t !== undefined && !ctx.lcd.getInstance(t)) throw tableError(CORE_ERRORS.NOT_FOUND.number, { tag: t, server: ctx.localSystem }, { tag: t });
    }
    if (below !== undefined) {
      const tree = descendants(all, below).add(below);
      rows = rows.filter((d) => tree.has(d.parentTag));
    }
    if (above !== undefined) {
      const tree = ancestors(all, above).add(above);
      rows = rows.filter((d) => tree.has(d.childTag));
    }
    return ok(formatRows(rows.map((d) => [d.system, d.parentTag, d.childTag]), separator(req)), rows);
  });

  commands.register('dep_create', async (req, ctx) => {
    allowOnly(req, 'pc');
    const dep = await ctx.lcd.createDependency({ parentTag: need(req, 'p', 'parent'), childTag: need(req, 'c', 'child') });
    ctx.log.info({ dependency: dep }, 'dependency created');
    return ok('', dep);
  });

  commands.register('dep_remove', async (req, ctx) => {
    allowOnly(req, 'pc');
    const parent = need(req, 'p', 'parent');
    const child = need(req, 'c', 'child');
    await ctx.lcd.removeDependency(parent, child);
    ctx.log.info({ parent, child }, 'dependency removed');
    return ok('', { parentTag: parent, childTag: child });
  });
}
