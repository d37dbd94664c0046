#!/usr/bin/env node
// vigild: the Vigil node agent. Loads the configuration (--config, $VIGIL_CONFIG or
// /etc/default/vigil), opens the LCD under VIGIL_STATE_DIR (registering this system on first
// start), composes and starts the subsystems, and shuts down cleanly on SIGTERM / SIGINT.
import { loadConfig, DEFAULT_CONFIG_PATH } from '../common/config.js';
import { VigilError } from '../common/errors.js';
import { vigilVersion } from '../common/version.js';
import { LcdMissingError, type LcdStartMode } from '../lcd/lcd.js';
import { markThisAgent } from '../platform/linux/agent-mark.js';
import { createLinuxPlatform } from '../platform/linux/index.js';
import { Agent } from './agent.js';
import { composeAgent } from './compose.js';
import { createLogger } from './logger.js';

const USAGE =
  'usage: vigild [--config FILE] [--lcd-recover | --lcd-init] [--check-config] | --version | --help\n' +
  '  FILE defaults to $VIGIL_CONFIG, then /etc/default/vigil\n' +
  '  --lcd-recover  lcd.json is missing: start from the newest kept generation (lcd.json.N)\n' +
  "  --lcd-init     lcd.json is missing: start with an empty database (this node's configuration is lost)\n" +
  '  --check-config  only read and check FILE: exit 0 when vigild could start with it, 78 when not\n';

/** Exit code for a missing or invalid configuration (sysexits EX_CONFIG): the unit does not restart on it. */
const EXIT_CONFIG = 78;

/** A command line vigild cannot run with: the message, the usage, exit code 2. */
class UsageError extends Error {}

type Invocation = { kind: 'run'; configFile: string; lcdStart: LcdStartMode; checkOnly: boolean } | { kind: 'help' } | { kind: 'version' };

/** Every argument is known or an error: a typo must not start a daemon with another config. */
function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Invocation {
  let configFile: string | undefined;
  let checkOnly = false;
  // --lcd-init / --lcd-recover: an administrator's explicit choice for a lost or damaged LCD.
  let lcdStart: LcdStartMode = 'normal';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return { kind: 'help' };
    if (a === '--check-config') {
      checkOnly = true;
      continue;
    }
    if (a === '--version' || a === '-V') return { kind: 'version' };
    if (a === '--config' || a.startsWith('--config=')) {
      const v = a === '--config' ? argv[++i] : a.slice('--config='.length);
      if (!v) throw new UsageError('--config needs a file path');
      if (configFile !== undefined) throw new UsageError('--config given twice');
      configFile = v;
    } else if (a === '--lcd-init' || a === '--lcd-recover') {
      const mode: LcdStartMode = a === '--lcd-init' ? 'fresh' : 'recover';
      if (lcdStart !== 'normal' && lcdStart !== mode) throw new UsageError('--lcd-init and --lcd-recover exclude each other');
      lcdStart = mode;
    } else if (a.startsWith('-')) throw new UsageError(`unknown option "${a}"`);
    else throw new UsageError(`unexpected argument "${a}"`);
  }
  return { kind: 'run', configFile: configFile ?? (env.VIGIL_CONFIG || DEFAULT_CONFIG_PATH), lcdStart, checkOnly };
}

async function main(): Promise<number> {
  let inv: Invocation;
  try {
    inv = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`vigild: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (inv.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (inv.kind === 'version') {
    process.stdout.write(`vigild ${vigilVersion()}\n`);
    return 0;
  }
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(inv.configFile);
  } catch (err) {
    if (!(err instanceof VigilError)) throw err;
    process.stderr.write(`vigild: ${err.format()}\n`);
    return EXIT_CONFIG;
  }
  const { config, warnings } = loaded;
  if (inv.checkOnly) {
    for (const w of warnings) process.stderr.write(`vigild: warning: ${w.message}\n`);
    process.stdout.write(`vigild: configuration ${inv.configFile} is valid\n`);
    return 0;
  }
  const log = createLogger(config.VIGIL_LOG_LEVEL, 'vigild');
  // A bug must not leave a half-working agent behind: log it and exit, systemd restarts us.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; exiting');
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled promise rejection; exiting');
    process.exit(70);
  });
  for (const w of warnings) log.warn({ number: w.number, key: w.key }, w.message);

  // The one place vigild builds its platform; every part gets it from the agent.
  // Marked before anything starts a program: the services they leave running can be found (agent-mark.ts).
  const agentMark = markThisAgent();
  const agent = new Agent(config, log, { platform: createLinuxPlatform({ agentMark }), lcdStart: inv.lcdStart });
  composeAgent(agent);

  let signalled = false;
  const done = new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) return;
      signalled = true;
      log.info({ signal: sig }, 'shutting down');
      agent.stop().then(
        () => resolve(0),
        (err) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await agent.start();
  log.info({ config: config.source, stateDir: config.VIGIL_STATE_DIR, lcdGeneration: agent.lcd.generation }, 'vigild ready');
  return done;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    const msg = err instanceof VigilError ? err.format() : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`vigild: ${msg}\n`);
    // A missing configuration database waits for the administrator's --lcd-recover or
    // --lcd-init: restarting cannot fix it either, so it exits like a configuration error.
    process.exit(err instanceof LcdMissingError ? EXIT_CONFIG : 1);
  },
);
