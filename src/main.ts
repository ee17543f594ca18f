/**
 * Entry point: `npm start` (from .env), `npm run demo` (offline), `npm run console`.
 * Reads the config, starts the app, and turns SIGINT/SIGTERM into one orderly shutdown.
 */
import { join } from 'node:path';
import { ConfigError, loadConfig, type Config } from './config.js';
import { demoOverrides } from './demo.js';
import type { RunningApp } from './app.js';
import { initLogger, log } from './logger.js';
import { signalPolicy } from './signals.js';
import { tuneHeap } from './heap.js';

// Heap grows 1.5x, not up to 4x, past what survived: RSS under API load 250-340 MB -> 190-210 MB (docs/operations.md).
tuneHeap();
import { type DatabaseHandle, NoDatabaseError, openConfiguredDatabase } from './db/embedded.js';

const args = new Set(process.argv.slice(2));
const DEMO_SOURCE = '24h of history, a volume spike per market every 5 minutes';
const demo = args.has('--demo');

function readConfig(): Config {
  try {
    const base = loadConfig();
    return demo ? loadConfig(undefined, demoOverrides(base.mongo.dataDir)) : base;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example for every key and what it expects.\n`);
      process.exit(78);
    }
    throw err;
  }
}

function banner(app: RunningApp, logFile: string | undefined): string {
  const { config, database } = app;
  const db =
    database.kind === 'external'
      ? `MongoDB at MONGODB_URI`
      : `embedded ${database.kind === 'java' ? 'mongo-java-server' : 'mongod'}, data in ${database.storage}`;
  const sources = config.market.sources.join(', ');
  const lines = [
    demo ? 'crypto-chatops demo is running (offline, no accounts needed)' : 'crypto-chatops is running',
    `  database   ${db}`,
    `  source     ${sources}${demo ? `: ${config.market.simulatedMarkets} markets, ${DEMO_SOURCE}` : ''}`,
    `  dashboard  ${app.dashboardUrl}`,
    `  REST API   ${app.httpUrl}/api/v1/markets`,
    `  API docs   ${app.httpUrl}/docs`,
    `  logs       ${logFile ? `${logFile} (warnings show here too)` : 'standard output'}`,
    demo
      ? 'Try: /metric sim:btc-usd   /rank   /track sim:btc-usd   /help   (an alert arrives within a few minutes)'
      : 'Try: /metric btc-usd   /rank   /help',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const config = readConfig();
  const chatConfigured = Boolean(config.slack.botToken || config.discord.token);
  const consoleWanted = demo || args.has('--console') || !chatConfigured;
  // A person at the console: keep log lines out of the REPL (all of them go to a file).
  const interactive = consoleWanted && Boolean(process.stdin.isTTY);
  const logFile = interactive ? join(config.mongo.dataDir, 'bot.log') : undefined;
  initLogger(config, { file: logFile });
  const logger = log('main');
  // Handlers go in first: a stop signal that arrives while the app starts is queued, not fatal (the
  // default action would kill the process with the embedded database and workers half started).
  let app: RunningApp | undefined;
  let pending: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals, running: RunningApp) =>
    void running.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  const stopping = signalPolicy();
  const onSignal = (signal: NodeJS.Signals) => {
    const action = stopping(signal);
    if (action === 'ignore') {
      logger.info({ signal }, 'signal repeated within a second (relayed by npm or tsx): one stop');
      return;
    }
    if (action === 'exit') {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    if (app) stop(signal, app);
    else {
      pending = signal;
      logger.info({ signal }, 'stop requested while starting: stopping once started (again to exit now)');
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (demo) logger.info('demo mode: simulated source, embedded database, console');
  // The database comes first, before the rest of the app is even loaded, so that a machine without one
  // hears so within seconds.
  let database: DatabaseHandle;
  try {
    database = await openConfiguredDatabase(config);
  } catch (err) {
    if (err instanceof NoDatabaseError) {
      // A machine without a database is a setup question, not a crash: the next step, no stack.
      logger.fatal({ exitCode: err.exitCode }, 'no database could be started');
      process.stderr.write(`${err.message}\n`);
      process.exit(err.exitCode);
    }
    logger.fatal({ err }, 'could not start');
    process.exit(1);
  }
  const { startApp } = await import('./app.js');
  try {
    app = await startApp(config, {
      console: demo || args.has('--console'),
      logFile,
      prompt: interactive ? undefined : '',
      database,
    });
  } catch (err) {
    if (err instanceof Error && err.name === 'DatabaseUnavailableError') logger.fatal(err.message);
    else logger.fatal({ err }, 'could not start');
    process.exit(1);
  }
  if (pending) return stop(pending, app);
  // The console greets before this point; the banner follows with a fresh prompt.
  if (app.chat.platforms.some((p) => p.name === 'console'))
    process.stdout.write(`\n${banner(app, logFile)}${interactive ? '> ' : ''}`);
}

await main();
