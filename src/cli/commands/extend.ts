// `vigil extend`: extends a hierarchy to another server. With --accept-defaults it sends the
// request at once; otherwise it asks, like the seeds' wizard, for each value not given on the
// command line (target server, switchback type, template priority on the first extend, target
// priority), offering the defaults the template server computes (Enter accepts a default).
// Answers are read from stdin, so they can also be piped in.
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { optionKey } from '../../admin/command-specs.js';
import { DEFAULT_ADMIN_SOCKET, type AdminRequest } from '../../admin/protocol.js';
import { sendAdminRequest } from '../admin-client.js';
import { EXTEND_OPTIONS } from './hierarchy.js';

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
    if (raw.acceptDefaults !== true) {
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
      const lines = rl[Symbol.asyncIterator]();
      const ask = async (q: string, def: string): Promise<string> => {
        process.stdout.write(`${q} [${def}]: `);
        const n = await lines.next();
        const a = n.done ? '' : String(n.value).trim();
        if (!process.stdin.isTTY) process.stdout.write(`${a}\n`);
        return a === '' ? def : a;
      };
      try {
        if (typeof options.t !== 'string') options.t = await ask('Tag to extend', '');
        const d = await sendAdminRequest(socket, { id: 1, command: 'extend_defaults', options: { t: options.t }, args: [], destsys });
        if (d.exitCode !== 0) {
          process.stderr.write(d.stderr);
          process.exitCode = d.exitCode;
          return;
        }
        const def = d.data as Defaults;
        if (typeof options.s !== 'string') options.s = await ask(`Target server (${def.targets.join(', ') || 'no live server without it'})`, def.targets[0] ?? '');
        if (typeof options.switchback !== 'string') options.switchback = await ask('Switchback type (intelligent/automatic)', def.switchback);
        if (def.firstExtend && typeof options.templatePriority !== 'string') options.templatePriority = await ask('Template priority (1-999)', String(def.templatePriority));
        if (typeof options.targetPriority !== 'string') options.targetPriority = await ask('Target priority (1-999)', String(def.targetPriority));
      } finally {
        rl.close();
      }
    }
    const req: AdminRequest = { id: 1, command: 'extend', options, args: [], json: raw.json === true };
    if (destsys) req.destsys = destsys;
    const reply = await sendAdminRequest(socket, req);
    if (raw.json === true) process.stdout.write(JSON.stringify(reply.data ?? null, null, 2) + '\n');
    else process.stdout.write(reply.stdout);
    process.stderr.write(reply.stderr);
    process.exitCode = reply.exitCode;
  });
  return cmd;
}
