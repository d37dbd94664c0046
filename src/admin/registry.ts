// The table of administration command handlers and the one dispatch function that the admin
// socket (and the cluster's messaging, for -d requests from other systems) calls. One table per
// agent, built where vigild is composed (daemon/compose.ts), which registers every part's
// handlers in it. Handlers throw VigilError for refused input; dispatch turns that into a reply
// with the error number.
import { errorEntry, formatErrorLine } from '../common/error-table.js';
import { VigilError } from '../common/errors.js';
import type { AgentContext } from './context.js';
import { EXIT_FAILED, EXIT_INTERNAL, EXIT_UNREACHABLE, EXIT_USAGE } from './exit-codes.js';
import type { AdminReply, AdminRequest } from './protocol.js';

export type AdminResult = Omit<AdminReply, 'id'>;
export type AdminHandler = (req: AdminRequest, ctx: AgentContext) => Promise<AdminResult>;

/** A VigilError subclass for malformed command lines (exit code 2). */
export class UsageError extends VigilError {
  constructor(message: string) {
    super(0, message);
    this.name = 'UsageError';
  }
}

/** Build the reply for an error thrown by a handler. */
export function errorResult(err: unknown, ctx: AgentContext, command: string): AdminResult {
  if (err instanceof UsageError) {
    return { exitCode: EXIT_USAGE, stdout: '', stderr: `${command}: ${err.message}\n`, data: { error: { number: 0, message: err.message } } };
  }
  if (err instanceof VigilError && errorEntry(err.number)?.form === 'core') {
    // The configuration-database commands' form: a process line, then the *ERROR* line scripts grep for.
    return {
      exitCode: EXIT_FAILED,
      stdout: '',
      stderr: `Process: ${command}(${process.pid})\n${err.format()}\n`,
      data: { error: { number: err.number, message: err.message, details: err.details } },
    };
  }
  if (err instanceof VigilError) {
    return {
      exitCode: EXIT_FAILED,
      stdout: '',
      stderr: `${command}: ${err.format()}\n`,
      data: { error: { number: err.number, message: err.message, details: err.details } },
    };
  }
  ctx.log.error({ err, command }, 'admin command failed unexpectedly');
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: EXIT_INTERNAL, stdout: '', stderr: `${command}: internal error: ${message}\n`, data: { error: { number: 0, message } } };
}

/** The handlers of one agent, by command name. */
export class AdminCommands {
  private readonly handlers = new Map<string, AdminHandler>();

  /** Register `handler` for `name`. Registering a name twice is a programming error. */
  register(name: string, handler: AdminHandler): void {
    if (this.handlers.has(name)) throw new Error(`admin command "${name}" is registered twice`);
    this.handlers.set(name, handler);
  }

  names(): string[] {
    return [...this.handlers.keys()].sort();
  }

  has(name: string): boolean {
    return this.handlers.has(name);
  }

  /** Run one request: locally, or on `req.destsys` through ctx.forward. Never throws. */
  async dispatch(req: AdminRequest, ctx: AgentContext): Promise<AdminReply> {
    const { id } = req;
    if (req.destsys !== undefined && req.destsys !== '' && req.destsys !== ctx.localSystem) {
      if (!ctx.lcd.systems().some((s) => s.name === req.destsys)) {
        const message = `system "${req.destsys}" is not in sys_list; -d names a system of this cluster`;
        return { id, exitCode: EXIT_FAILED, stdout: '', stderr: `${req.command}: ${formatErrorLine(0, message)}\n`, data: { error: { number: 0, message } } };
      }
      if (!ctx.forward) {
        return { id, exitCode: EXIT_UNREACHABLE, stdout: '', stderr: `${req.command}: no comm path to system "${req.destsys}" (cluster messaging is not running)\n` };
      }
      const { destsys, ...rest } = req;
      try {
        return { ...(await ctx.forward(destsys, rest)), id };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        return { id, exitCode: EXIT_UNREACHABLE, stdout: '', stderr: `${req.command}: cannot reach system "${destsys}": ${message}\n` };
      }
    }
    const handler = this.handlers.get(req.command);
    if (!handler) return { id, exitCode: EXIT_USAGE, stdout: '', stderr: `unknown command "${req.command}"\n` };
    try {
      return { ...(await handler(req, ctx)), id };
    } catch (err) {
      return { ...errorResult(err, ctx, req.command), id };
    }
  }
}
