// Registers the core administration commands (the seeds' LCD command set) in the registry.
import { registerDependencyCommands } from './dep.js';
import { registerEquivalencyCommands } from './eqv.js';
import { registerInstanceCommands } from './ins.js';
import { registerLcdCommands } from './lcd.js';
import { registerNetCommands } from './net.js';
import { registerSystemCommands } from './sys.js';

let registered = false;

/** Idempotent: safe to call from the daemon and from several tests in one process. */
export function registerCoreCommands(): void {
  if (registered) return;
  registered = true;
  registerSystemCommands();
  registerNetCommands();
  registerEquivalencyCommands();
  registerInstanceCommands();
  registerDependencyCommands();
  registerLcdCommands();
}
