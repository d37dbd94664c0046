// The daemon commands the `vigil` CLI knows, as declarative specs. Each part of the product
// that adds administration commands adds its spec list here with one line.
import { CORE_COMMAND_SPECS, type CommandSpec } from '../admin/command-specs.js';
import { HIERARCHY_COMMAND_SPECS } from './commands/hierarchy.js';

export const DAEMON_COMMAND_SPECS: readonly CommandSpec[] = [...CORE_COMMAND_SPECS, ...HIERARCHY_COMMAND_SPECS];
