// vigild's handlers for the hierarchy task commands (specs in src/cli/commands/hierarchy.ts):
// each parses its flags, calls the task in hierarchy/tasks.ts or the engine through the
// service, and prints what happened. Registered by daemon/compose.ts with the agent's
// hierarchy service, which exists while the hierarchy subsystem runs. Errors are VigilErrors with the seeds' numbers; the registry turns them
// into "Error 0000NN: ..." on stderr and a non-zero exit code.
import { CORE_ERRORS } from '../../common/error-table.js';
import { tableError, usageError, VigilError } from '../../common/errors.js';
import { ok, opt } from './options.js';
import { EXIT_FAILED } from '../exit-codes.js';
import type { AdminRequest } from '../protocol.js';
import type { AdminCommands, AdminResult } from '../registry.js';
import type { HierarchyService } from '../../hierarchy/service.js';
import {
  createHierarchy,
  deleteHierarchy,
  dependency,
  E_IN_SERVICE_FAILED,
  extendDefaults,
  extendHierarchy,
  properties,
  unextendHierarchy,
  type TaskOutput,
} from '../../hierarchy/tasks.js';

function out(t: TaskOutput): AdminResult {
  return ok(t.lines.map((l) => l + '\n').join(''), t.data ?? { lines: t.lines });
}

function list(req: AdminRequest, key: string): string[] {
  const v = req.options[key];
  if (v === undefined || v === false || v === true) return [];
  return Array.isArray(v) ? v : [v];
}

/** gen/app and gen/filesys settings from their convenience flags plus --info key=value. */
function infoFrom(req: AdminRequest): Record<string, string> {
  const info: Record<string, string> = {};
  const map: Record<string, string> = { restore: 'restore', remove: 'remove', quickCheck: 'quickCheck', recover: 'recover', arg: 'arg', device: 'device', fstype: 'fsType', options: 'options' };
  for (const [k, infoKey] of Object.entries(map)) {
    const v = opt(req, k);
    if (v !== undefined) info[infoKey] = v;
  }
  // scsi/netraid type=new-fs formats the partition only when this was given.
  if (req.options['yesDestroyData'] === true) info['formatConfirmed'] = 'yes';
  for (const kv of list(req, 'info')) {
    const i = kv.indexOf('=');
    if (i <= 0) throw usageError(`--info takes key=value, not "${kv}"`);
    info[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return info;
}

/** `service` gives the running hierarchy service, or undefined while the engine is not running. */
export function registerHierarchyCommands(commands: AdminCommands, service: () => HierarchyService | undefined): void {
  const current = (): HierarchyService => {
    const svc = service();
    if (!svc) throw new VigilError(0, 'the hierarchy engine is not running');
    return svc;
  };

  commands.register('create', async (req) => {
    return out(
      await createHierarchy(current(), {
        kit: opt(req, 'a'),
        tag: opt(req, 't'),
        id: opt(req, 'i'),
        switchback: opt(req, 'switchback'),
        info: infoFrom(req),
      }),
    );
  });

  commands.register('extend', async (req) => {
    return out(
      await extendHierarchy(current(), {
        tag: opt(req, 't'),
        target: opt(req, 's'),
        templatePriority: opt(req, 'templatePriority'),
        targetPriority: opt(req, 'targetPriority'),
        switchback: opt(req, 'switchback'),
      }),
    );
  });

  commands.register('extend_defaults', async (req) => {
    const tag = opt(req, 't');
    if (!tag) throw tableError(CORE_ERRORS.TAG_MISSING.number, { task: 'extend' });
    const d = extendDefaults(current(), tag);
    return ok(JSON.stringify(d) + '\n', d);
  });

  commands.register('unextend', async (req) => out(await unextendHierarchy(current(), { tag: opt(req, 't'), target: opt(req, 's') })));

  commands.register('delete', async (req) => out(await deleteHierarchy(current(), { tag: opt(req, 't') })));

  commands.register('dep', async (req) => {
    const op = req.args[0];
    if (op !== 'create' && op !== 'delete') throw usageError(`say create or delete, not "${op ?? ''}"`);
    return out(await dependency(current(), op, { parent: opt(req, 'p'), child: opt(req, 'c') }));
  });

  const engineCommand = async (req: AdminRequest, what: 'in-service' | 'out-of-service'): Promise<AdminResult> => {
    const tag = opt(req, 't');
    if (!tag) throw usageError('the tag (-t) is not specified');
    const s = current();
    const t0 = Date.now();
    const pending = s.admin(what === 'in-service' ? { type: 'adminInService', tag } : { type: 'adminOutOfService', tag });
    // commander turns --no-wait into wait: false. By default the command returns when the
    // hierarchy has settled in its new state (recorded in the LCD); with --no-wait it says plainly
    // that the change goes on, and its outcome is in hier_events and the resource states.
    if (req.options['wait'] === false) {
      void pending.then((r) => {
        if (!r.ok) s.timeline.push({ at: Date.now(), level: 'error', msg: `${what} ${tag} (--no-wait) failed: ${r.message}`, fields: { tag } });
      });
      return ok(`${what} of ${tag} started on ${s.local}; it continues in the background (see hier_events and ins_list)\n`, { tag, started: true, settled: false });
    }
    const r = await pending;
    if (!r.ok) {
      if (what === 'in-service') throw tableError(E_IN_SERVICE_FAILED, { tag, server: s.local, reason: r.message }, { tag });
      throw new VigilError(0, r.message, { tag });
    }
    return ok(`${r.message} (${Date.now() - t0} ms)\n`, { tag, ok: true, message: r.message, ms: Date.now() - t0 });
  };
  commands.register('in-service', (req) => engineCommand(req, 'in-service'));
  commands.register('out-of-service', (req) => engineCommand(req, 'out-of-service'));

  commands.register('properties', async (req) => out(await properties(current(), { tag: opt(req, 't'), switchback: opt(req, 'switchback') })));

  commands.register('perform_action', async (req) => {
    const action = opt(req, 'a');
    const tag = opt(req, 't');
    if (action !== 'restore' && action !== 'remove') throw usageError(`-a must be restore or remove, not "${action ?? ''}"`);
    if (!tag) throw tableError(CORE_ERRORS.TAG_AND_ID_MISSING.number, {});
    const s = current();
    if (!s.lcd.getInstance(tag)) throw tableError(CORE_ERRORS.NOT_FOUND.number, { tag, server: s.local }, { tag });
    const r = await s.admin({ type: 'adminAction', tag, action });
    if (!r.ok) return { exitCode: EXIT_FAILED, stdout: '', stderr: `perform_action: ${r.message}\n`, data: r };
    return ok(`${r.message}\n`, r);
  });

  commands.register('hier_events', async (req) => {
    const n = Number(opt(req, 'n') ?? 50);
    const events = current().timeline.slice(-Math.max(1, Math.min(1000, Number.isFinite(n) ? n : 50)));
    const text = events.map((e) => `${new Date(e.at).toISOString()} ${e.level.padEnd(5)} ${e.msg}\n`).join('');
    return ok(text, events);
  });
}
