// `vigil extend`: extends a hierarchy to another server. With --accept-defaults it sends the
// request at once; otherwise it asks, like the seeds' wizard, for each value not given on the
// command line (target server, switchback type, template priority on the first extend, target
// priority), offering the defaults the template server computes (Enter accepts a default).
// Answers are read from stdin, so they can also be piped in; when stdin ends before a question
// is answered (no terminal, nothing piped) it refuses rather than taking every default unseen.
// Progress goes to stderr (nothing under --json); the result is the agent's.
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { optionKey } from '../../admin/command-specs.js';
import { EXIT_OK, EXIT_USAGE } from '../../admin/exit-codes.js';
import { DEFAULT_ADMIN_SOCKET, type AdminRequest } from '../../admin/protocol.js';
import { jsonError } from '../json-output.js';
import { sendAdminRequest } from '../admin-client.js';
import { EXTEND_OPTIONS } from './hierarchy.js';

/** stdin ended before a question was answered. */
class NoAnswer extends Error {}

interface Defaults {
  templatePriority: number;
  targetPriority: number;
  switchback: string;
  firstExtend: boolean;
  targets: string[];
}

export function extendCommand(socketOf: () => string | undefined): Command {
  const cmd = new Command('extend').description('extend a hierarchy to another server (asks like the wizard unless --accept-defaults)');
  cmd.option('-d <destsys>', 'the template server (default: this one)');
  for (const o of EXTEND_OPTIONS) cmd.option(o.flags, o.description);
  cmd.option('--json', 'print the structured result as JSON');
  cmd.exitOverride();
  cmd.action(async (raw: Record<string, string | boolean>) => {
    const socket = socketOf() || process.env.VIGIL_ADMIN_SOCKET || DEFAULT_ADMIN_SOCKET;
    const options: AdminRequest['options'] = {};
    for (const o of EXTEND_OPTIONS) {
      const k = optionKey(o.flags);
      if (raw[k] !== undefined && k !== 'acceptDefaults') options[k] = raw[k]!;
    }
    const destsys = typeof raw.d === 'string' ? raw.d : undefined;
    const json = raw.json === true;
    const progress = (line: string) => {
      if (!json) process.stderr.write(`extend: ${line}\n`);
    };
    const fail = (exitCode: number, text: string, data?: unknown) => {
      if (json) process.stdout.write(jsonError(exitCode, data, text));
      else process.stderr.write(text);
      process.exitCode = exitCode;
    };
    // Under --json stdout carries only the JSON result, so the questions go to stderr.
    const prompts = json ? process.stderr : process.stdout;
    if (raw.acceptDefaults !== true) {
      const rl = createInterface({ input: process.stdin, output: prompts, terminal: process.stdin.isTTY });
      const lines = rl[Symbol.asyncIterator]();
      const ask = async (q: string, def: string): Promise<string> => {
        prompts.write(`${q} [${def}]: `);
        const n = await lines.next();
        if (n.done) {
          prompts.write('\n');
          throw new NoAnswer(q);
        }
        const a = String(n.value).trim();
        if (!process.stdin.isTTY) prompts.write(`${a}\n`);
        return a === '' ? def : a;
      };
      try {
        if (typeof options.t !== 'string') options.t = await ask('Tag to extend', '');
        progress(`asking ${destsys ?? 'the template server'} for the defaults of ${options.t}`);
        const d = await sendAdminRequest(socket, { id: 1, command: 'extend_defaults', options: { t: options.t }, args: [], destsys });
        if (d.exitCode !== 0) {
          fail(d.exitCode, d.stderr, d.data);
          return;
        }
        const def = d.data as Defaults;
        if (typeof options.s !== 'string') options.s = await ask(`Target server (${def.targets.join(', ') || 'no live server without it'})`, def.targets[0] ?? '');
        if (typeof options.switchback !== 'string') options.switchback = await ask('Switchback type (intelligent/automatic)', def.switchback);
        if (def.firstExtend && typeof options.templatePriority !== 'string') options.templatePriority = await ask('Template priority (1-999)', String(def.templatePriority));
        if (typeof options.targetPriority !== 'string') options.targetPriority = await ask('Target priority (1-999)', String(def.targetPriority));
      } catch (err) {
        if (!(err instanceof NoAnswer)) throw err;
        fail(
          EXIT_USAGE,
          `extend: no answer for "${err.message}": stdin is not a terminal and ended; give the values as options or --accept-defaults\n`,
        );
        return;
      } finally {
        rl.close();
      }
    }
    const req: AdminRequest = { id: 1, command: 'extend', options, args: [], json: raw.json === true };
    if (destsys) req.destsys = destsys;
    const started = Date.now();
    progress(`extending ${String(options.t ?? '')} to ${String(options.s ?? 'the default target')} (runs each resource's extend on the target, children first)`);
    // A heartbeat line every few seconds so a long extend is visibly alive.
    const ticker = json ? undefined : setInterval(() => progress(`still extending (${((Date.now() - started) / 1000).toFixed(0)} s)`), 5_000);
    const reply = await sendAdminRequest(socket, req).finally(() => clearInterval(ticker));
    if (reply.exitCode !== EXIT_OK) {
      if (!json) process.stdout.write(reply.stdout);
      fail(reply.exitCode, reply.stderr, reply.data);
      return;
    }
    if (json) process.stdout.write(JSON.stringify(reply.data ?? null, null, 2) + '\n');
    else process.stdout.write(reply.stdout);
    process.stderr.write(reply.stderr);
    progress(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.exitCode = reply.exitCode;
  });
  return cmd;
}
