// lcdsync (flush runtime state to disk) and lcdstatus (a readable picture of this node's view:
// systems, comm paths and resources with their states, then quorum when it runs).
import type { LcdDocument } from '../../lcd/schema.js';
import type { AdminCommands } from '../registry.js';
import type { AgentContext } from '../context.js';
import { commPathFields, commPathState } from './net.js';
import { allowOnly, ok } from './options.js';
import { formatQuorum, formatWatchdog } from './quorum-view.js';
import { table } from './table.js';

/** `ctx` (optional) shows comm paths as the cluster layer sees them now, with the reason. */
export function formatStatus(doc: LcdDocument, ctx?: Pick<AgentContext, 'cluster' | 'localSystem'>): string {
  let out = `LCD of ${doc.localSystem} (generation ${doc.generation})\n\nSystems:\n`;
  out += table(
    ['SYSTEM', 'STATE', 'SINCE'],
    doc.systems.map((s) => [
      s.name === doc.localSystem ? `${s.name} (local)` : s.name,
      s.state,
      s.stateChangedAt ? new Date(s.stateChangedAt).toISOString() : '-',
    ]),
  );
  out += '\nComm paths:\n';
  out += doc.commPaths.length
    ? table(
        ['SYSTEM', 'OTHERSYS', 'TYPE', 'PRIO', 'STATE', 'ENDPOINT'],
        doc.commPaths.map((p) => {
          const f = commPathFields(p, ctx ? commPathState(p, ctx) : undefined);
          return [...f.slice(0, 5), f.slice(5).join(' ')];
        }),
      )
    : '  (none)\n';
  out += '\nResources:\n';
  out += doc.instances.length
    ? table(
        ['SYSTEM', 'TAG', 'APP/TYPE', 'STATE', 'SWITCHBACK', 'EQUIVALENTS'],
        doc.instances.map((i) => {
          const eq = doc.equivalencies.filter((e) => e.system === i.system && e.tag === i.tag);
          const own = eq[0] ? `prio ${eq[0].priority}; ` : '';
          const others = eq.map((e) => `${e.otherSystem}:${e.otherTag}(${e.otherPriority})`).join(', ');
          return [i.system, i.tag, `${i.app}/${i.type}`, i.state + (i.reason ? ` (${i.reason.replace(/\s+/g, ' ')})` : ''), i.switchback, eq.length ? own + others : 'unprotected'];
        }),
      )
    : '  (none)\n';
  return out;
}

export function registerLcdCommands(commands: AdminCommands): void {
  commands.register('lcdsync', async (req, ctx) => {
    allowOnly(req, '');
    const wrote = await ctx.lcd.sync();
    return ok('', { wrote, generation: ctx.lcd.generation });
  });

  commands.register('lcdstatus', async (req, ctx) => {
    allowOnly(req, '');
    const doc = ctx.lcd.snapshot();
    // Only when it applies, so the usual output keeps its format: configuration changes are
    // being refused because the disk holding the state directory stopped answering.
    const stuckForMs = ctx.lcd.stalledForMs();
    const warning =
      stuckForMs === undefined
        ? ''
        : `WARNING: an LCD write has been stuck in the kernel for ${(stuckForMs / 1000).toFixed(1)} s; changes are refused until the disk holding ${ctx.lcd.dir} answers\n`;
    const r = ctx.lcd.recovery;
    const recovered = r
      ? `WARNING: LCD recovered: ${r.reason}; running with generation ${r.generation} rebuilt from ${r.source} (since ${new Date(r.at).toISOString()})\n`
      : '';
    const clusterWarning = ctx.cluster?.keyProblem() && ctx.lcd.commPaths({ system: ctx.localSystem }).some((p) => p.type !== 'DISK')
      ? `WARNING: comm paths cannot be authenticated: ${ctx.cluster.keyProblem()}\n`
      : '';
    // Quorum is runtime state, not the LCD's: shown (and in --json under `quorum`) once it runs.
    const quorum = ctx.quorum?.status();
    // The same for the self-fencing watchdog, shown only while one is armed.
    const watchdog = ctx.watchdog?.status();
    const text = warning + recovered + clusterWarning + formatStatus(doc, ctx) + (quorum ? formatQuorum(quorum) : '') + (watchdog?.armed ? formatWatchdog(watchdog) : '');
    return ok(text, { ...doc, ...(quorum ? { quorum } : {}), ...(watchdog?.armed ? { watchdog } : {}) });
  });
}
