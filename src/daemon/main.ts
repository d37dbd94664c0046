#!/usr/bin/env node
// vigild: the Vigil node agent. Loads the configuration (--config, $VIGIL_CONFIG or
// /etc/default/vigil), opens the LCD under VIGIL_STATE_DIR (registering this system on first
// start), composes and starts the subsystems, and shuts down cleanly on SIGTERM / SIGINT.
import { loadConfig, DEFAULT_CONFIG_PATH } from '../common/config.js';
import { VigilError } from '../common/errors.js';
import type { LcdStartMode } from '../lcd/lcd.js';
import { Agent } from './agent.js';
import { composeAgent } from './compose.js';
import { createLogger } from './logger.js';

function configPath(argv: string[]): string {
  const i = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i >= 0) {
    const a = argv[i]!;
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
    if (!v) throw new VigilError(0, '--config needs a file path');
    return v;
  }
  return process.env.VIGIL_CONFIG || DEFAULT_CONFIG_PATH;
}

/** --lcd-init / --lcd-recover: an administrator's explicit choice for a lost or damaged LCD. */
function lcdStartMode(argv: string[]): LcdStartMode {
  const init = argv.includes('--lcd-init');
  const recover = argv.includes('--lcd-recover');
  if (init && recover) throw new VigilError(0, '--lcd-init and --lcd-recover exclude each other');
  return init ? 'fresh' : recover ? 'recover' : 'normal';
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'usage: vigild [--config FILE] [--lcd-recover | --lcd-init]\n' +
        '  FILE defaults to $VIGIL_CONFIG, then /etc/default/vigil\n' +
        '  --lcd-recover  lcd.json is missing: start from the newest kept generation (lcd.json.N)\n' +
        '  --lcd-init     lcd.json is missing: start with an empty database (this node\'s configuration is lost)\n',
    );
    return 0;
  }
  const { config, warnings } = loadConfig(configPath(argv));
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

  const agent = new Agent(config, log, undefined, { lcdStart: lcdStartMode(argv) });
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
    process.exit(1);
  },
);
