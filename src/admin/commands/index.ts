// Registers the core administration commands (the seeds' LCD command set) in an agent's command table.
import { registerDependencyCommands } from './dep.js';
import { registerEquivalencyCommands } from './eqv.js';
import { registerInstanceCommands } from './ins.js';
import { registerLcdCommands } from './lcd.js';
import { registerNetCommands } from './net.js';
import { registerSystemCommands } from './sys.js';

import type { AdminCommands } from '../registry.js';

export function registerCoreCommands(commands: AdminCommands): void {
  registerSystemCommands(commands);
  registerNetCommands(commands);
  registerEquivalencyCommands(commands);
  registerInstanceCommands(commands);
  registerDependencyCommands(commands);
  registerLcdCommands(commands);
}
