// ins_list, ins_create, ins_remove, ins_setas, ins_setstate: resource instances in the LCD.
// These act on the database only; bringing resources in or out of service is the hierarchy
// engine's job (vigil create/extend/delete, perform_action).
import { CORE_ERRORS } from '../../common/error-table.js';
import { tableError, VigilError } from '../../common/errors.js';
import { ResourceState, Switchback, type ResourceInstance } from '../../lcd/schema.js';
import { UsageError, type AdminCommands } from '../registry.js';
import { ancestors, descendants, removableHierarchy } from './hierarchy-walk.js';
import { EXIT_FAILED, EXIT_OK } from '../exit-codes.js';
import { allowOnly, flag, formatRows, need, ok, opt, separator } from './options.js';
import type { AgentContext } from '../context.js';
import type { AdminRequest } from '../protocol.js';

/** Seed error numbers for instance creation and lookup. */
export const ERR_TAG_AND_ID_MISSING = CORE_ERRORS.TAG_AND_ID_MISSING.number;
export const ERR_TAG_MISSING = CORE_ERRORS.TAG_MISSING.number;
const ERR_NOT_FOUND = CORE_ERRORS.NOT_FOUND.number;

function parseSwitchback(v: string): Switchback {
  const s = v.toLowerCase();
  if (s !== 'intelligent' && s !== 'automatic') throw new VigilError(0, `invalid switchback type "${v}": must be intelligent or automatic`);
  return s;
}

function parseState(v: string): ResourceState {
  const s = v.toUpperCase();
  const r = ResourceState.safeParse(s);
  if (!r.success) throw new VigilError(0, `invalid resource state "${v}": must be ISP, ISU, OSU or OSF`);
  return r.data;
}

/** Instances selected by -R/-a/-r/-t/-i on the local system. */
function select(req: AdminRequest, ctx: AgentContext): ResourceInstance[] {
  const system = ctx.localSystem;
  return ctx.lcd.instances({ system, app: opt(req, 'a'), type: opt(req, 'r'), tag: opt(req, 't'), id: opt(req, 'i') });
}

/** What ins_remove was asked to remove, for its not-found line: the tag alone, or the options given. */
function selection(req: AdminRequest): string {
  const given = ['R', 'a', 'r', 't', 'i'].filter((k) => opt(req, k) !== undefined);
  if (given.length === 1 && given[0] === 't') return opt(req, 't')!;
  return given.map((k) => `-${k} ${opt(req, k)}`).join(' ');
}

export function instanceFields(i: ResourceInstance): string[] {
  return [i.system, i.app, i.type, i.tag, i.id, i.state, i.switchback, i.info];
}

export function registerInstanceCommands(commands: AdminCommands): void {
  commands.register('ins_list', async (req, ctx) => {
    allowOnly(req, 'fRarti');
    // States already decided but still being written (a resource leaving service: a durable
    // write takes milliseconds, ~100 ms on a loaded host) are shown as decided: a node that left
    // service must not be seen in service a moment longer. Behind a stuck write this waits the
    // write's time limit.
    await ctx.lcd.idle();
    let rows = select(req, ctx);
    const top = opt(req, 'R');
    if (top !== undefined) {
      if (!ctx.lcd.getInstance(top)) throw tableError(ERR_NOT_FOUND, { tag: top, server: ctx.localSystem }, { tag: top });
      const tree = descendants(ctx.lcd.dependencies({ system: ctx.localSystem }), top).add(top);
      rows = rows.filter((i) => tree.has(i.tag));
    }
    return ok(formatRows(rows.map(instanceFields), separator(req)), rows);
  });

  commands.register('ins_create', async (req, ctx) => {
    allowOnly(req, 'artivsI');
    const tag = opt(req, 't');
    const id = opt(req, 'i');
    if (!tag && !id) throw tableError(ERR_TAG_AND_ID_MISSING, {});
    if (!tag) throw tableError(ERR_TAG_MISSING, { task: 'create' });
    const sb = opt(req, 's');
    const state = opt(req, 'I');
    const created = await ctx.lcd.createInstance({
      tag,
      id: id ?? tag,
      app: need(req, 'a', 'appname'),
      type: need(req, 'r', 'restyp'),
      info: opt(req, 'v') ?? '',
      switchback: sb === undefined ? undefined : parseSwitchback(sb),
      state: state === undefined ? undefined : parseState(state),
    });
    ctx.log.info({ tag: created.tag, id: created.id }, 'resource instance created');
    return ok('', created);
  });

  commands.register('ins_remove', async (req, ctx) => {
    allowOnly(req, 'RartivING');
    const root = opt(req, 'R');
    if (root === undefined && ['a', 'r', 't', 'i'].every((k) => opt(req, k) === undefined)) {
      throw new UsageError('give at least one of -R roottag, -a appname, -r restyp, -t tag, -i id');
    }
    const deps = ctx.lcd.dependencies({ system: ctx.localSystem });
    let rows = select(req, ctx);
    if (root !== undefined) {
      if (!ctx.lcd.getInstance(root)) throw tableError(ERR_NOT_FOUND, { tag: root, server: ctx.localSystem }, { tag: root });
      const tree = removableHierarchy(deps, root);
      rows = rows.filter((i) => tree.has(i.tag));
    }
    if (!rows.length) {
      // -I: clean-up scripts run again find nothing left, and that is not an error.
      if (flag(req, 'I')) return ok('', []);
      throw tableError(ERR_NOT_FOUND, { tag: selection(req), server: ctx.localSystem, detail: 'no resource instance matches' });
    }
    // The resources that depend on the removed ones go too (parents first), unless -N.
    const tags = new Set(rows.map((i) => i.tag));
    if (!flag(req, 'N')) for (const t of [...tags]) for (const a of ancestors(deps, t)) tags.add(a);
    const removed = ctx.lcd.instances({ system: ctx.localSystem }).filter((i) => tags.has(i.tag));
    // -G: the equivalents on the other systems are removed as well (through their agents).
    const remote = flag(req, 'G')
      ? ctx.lcd.equivalencies({ system: ctx.localSystem }).filter((e) => tags.has(e.tag)).map((e) => ({ system: e.otherSystem, tag: e.otherTag }))
      : [];
    if (remote.length && !ctx.forward) throw new VigilError(0, `-G needs the cluster layer to reach ${remote[0]!.system}; it is not running`);
    await ctx.lcd.removeInstances(removed.map((i) => ({ system: i.system, tag: i.tag })));
    ctx.log.info({ tags: removed.map((i) => i.tag) }, 'resource instances removed');
    let stdout = flag(req, 'v') ? removed.map((i) => `removed ${i.tag}\n`).join('') : '';
    let stderr = '';
    for (const r of remote) {
      const reply = await ctx.forward!(r.system, { id: req.id, command: 'ins_remove', options: { t: r.tag, I: true, ...(flag(req, 'v') ? { v: true } : {}), ...(flag(req, 'N') ? { N: true } : {}) }, args: [] });
      if (reply.exitCode !== EXIT_OK) stderr += `ins_remove: on ${r.system}: ${reply.stderr.trim() || `exit code ${reply.exitCode}`}\n`;
      else if (flag(req, 'v')) stdout += reply.stdout.replace(/^removed /gm, `removed ${r.system}:`);
    }
    const data = removed.map((i) => i.tag);
    return stderr ? { exitCode: EXIT_FAILED, stdout, stderr, data } : ok(stdout, data);
  });

  commands.register('ins_setas', async (req, ctx) => {
    allowOnly(req, 'ts');
    const tag = need(req, 't', 'tag');
    const sb = parseSwitchback(need(req, 's', 'switchback'));
    await ctx.lcd.setSwitchback(tag, sb);
    ctx.log.info({ tag, switchback: sb }, 'switchback type set');
    return ok('', ctx.lcd.getInstance(tag));
  });

  commands.register('ins_setstate', async (req, ctx) => {
    allowOnly(req, 'tSm');
    const tag = need(req, 't', 'tag');
    const state = parseState(need(req, 'S', 'state'));
    await ctx.lcd.setInstanceState(tag, state, opt(req, 'm') ?? '');
    ctx.log.info({ tag, state }, 'resource state set by administrator');
    return ok('', ctx.lcd.getInstance(tag));
  });
}
