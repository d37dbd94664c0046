// ins_list, ins_create, ins_remove, ins_setas, ins_setstate: resource instances in the LCD.
// These act on the database only; bringing resources in or out of service is the hierarchy
// engine's job (vigil create/extend/delete, perform_action).
import { VigilError } from '../../common/errors.js';
import { ResourceState, Switchback, type ResourceInstance } from '../../lcd/schema.js';
import { UsageError, type AdminCommands } from '../registry.js';
import { descendants, removableHierarchy } from './hierarchy-walk.js';
import { allowOnly, flag, formatRows, need, ok, opt, separator } from './options.js';
import type { AgentContext } from '../context.js';
import type { AdminRequest } from '../protocol.js';

/** Seed error numbers for instance creation. */
export const ERR_TAG_AND_ID_MISSING = 11; // 000011
export const ERR_TAG_MISSING = 30; // 000030

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

export function instanceFields(i: ResourceInstance): string[] {
  return [i.system, i.app, i.type, i.tag, i.id, i.state, i.switchback, i.info];
}

export function registerInstanceCommands(commands: AdminCommands): void {
  commands.register('ins_list', async (req, ctx) => {
    allowOnly(req, 'fRarti');
    let rows = select(req, ctx);
    const top = opt(req, 'R');
    if (top !== undefined) {
      if (!ctx.lcd.getInstance(top)) throw new VigilError(0, `resource "${top}" does not exist on system "${ctx.localSystem}"`);
      const tree = descendants(ctx.lcd.dependencies({ system: ctx.localSystem }), top).add(top);
      rows = rows.filter((i) => tree.has(i.tag));
    }
    return ok(formatRows(rows.map(instanceFields), separator(req)), rows);
  });

  commands.register('ins_create', async (req, ctx) => {
    allowOnly(req, 'artivsI');
    const tag = opt(req, 't');
    const id = opt(req, 'i');
    if (!tag && !id) throw new VigilError(ERR_TAG_AND_ID_MISSING, 'both tag and ID name not specified');
    if (!tag) throw new VigilError(ERR_TAG_MISSING, 'create: tag name not specified');
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
    allowOnly(req, 'Rartiv');
    const root = opt(req, 'R');
    if (root === undefined && ['a', 'r', 't', 'i'].every((k) => opt(req, k) === undefined)) {
      throw new UsageError('give at least one of -R roottag, -a appname, -r restyp, -t tag, -i id');
    }
    let rows = select(req, ctx);
    if (root !== undefined) {
      if (!ctx.lcd.getInstance(root)) throw new VigilError(0, `resource "${root}" does not exist on system "${ctx.localSystem}"`);
      const tree = removableHierarchy(ctx.lcd.dependencies({ system: ctx.localSystem }), root);
      rows = rows.filter((i) => tree.has(i.tag));
    }
    if (!rows.length) throw new VigilError(0, 'no resource instance matches');
    await ctx.lcd.removeInstances(rows.map((i) => ({ system: i.system, tag: i.tag })));
    ctx.log.info({ tags: rows.map((i) => i.tag) }, 'resource instances removed');
    return ok(flag(req, 'v') ? rows.map((i) => `removed ${i.tag}\n`).join('') : '', rows.map((i) => i.tag));
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
