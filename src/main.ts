/**
 * Entry point: `npm start` (from .env), `npm run demo` (offline), `npm run console`.
 * Reads the config, starts the app, and turns SIGINT/SIGTERM into one orderly shutdown.
 */
import { ConfigError, loadConfig } from './config.js';
import { startApp } from './app.js';
import { initLogger, log } from './logger.js';
import { DatabaseUnavailableError } from './db/connection.js';

const args = new Set(process.argv.slice(2));

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example for every key and what it expects.\n`);
      process.exit(78);
    }
    throw err;
  }
  initLogger(config);
  const logger = log('main');
  let app;
  try {
    app = await startApp(config, { demo: args.has('--demo'), console: args.has('--console') });
  } catch (err) {
    if (err instanceof DatabaseUnavailableError) {
      logger.fatal(err.message);
    } else {
      logger.fatal({ err }, 'could not start');
    }
    process.exit(1);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    void app.shutdown(signal).then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

await main();
