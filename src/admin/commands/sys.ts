// sys_list, sys_create, sys_remove: the systems known to this node's LCD.
import type { AdminCommands } from '../registry.js';
import { allowOnly, formatRows, need, ok, separator } from './options.js';

export function registerSystemCommands(commands: AdminCommands): void {
  commands.register('sys_list', async (req, ctx) => {
    allowOnly(req, 'f');
    const systems = ctx.lcd.systems();
    return ok(formatRows(systems.map((s) => [s.name]), separator(req)), systems);
  });

  commands.register('sys_create', async (req, ctx) => {
    allowOnly(req, 's');
    const sys = await ctx.lcd.createSystem({ name: need(req, 's', 'sys') });
    ctx.log.info({ system: sys.name }, 'system created');
    return ok('', sys);
  });

  commands.register('sys_remove', async (req, ctx) => {
    allowOnly(req, 's');
    const name = need(req, 's', 'sys');
    await ctx.lcd.removeSystem(name);
    ctx.log.info({ system: name }, 'system removed');
    return ok('', { removed: name });
  });
}
