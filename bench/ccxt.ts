/**
 * `npm run bench -- ccxt`: what the ccxt source costs.
 *   - parse and normalise of one 2,000-market Binance 24h ticker answer (JSON.parse, ccxt's
 *     parseTickers, our quotes), beside Kraken's hand-written parser on 2,000 pairs;
 *   - a whole snapshot of those 2,000 markets through the source against a local Binance fake;
 *   - what loading ccxt and three exchanges adds to one thread's RSS, and what one worker thread
 *     per exchange would add instead (the scheduler runs them all in one);
 *   - the whole bot's peak RSS (main thread and every worker: the process's VmHWM), compiled
 *     (`npm run build`, `node dist/src/main.js`), with MARKET_SOURCE=kraken,binance,coinbase,bitstamp
 *     against local fakes (binance with 2,000 markets) until every source has collected
 *     BENCH_TICKS ticks at BENCH_INTERVAL (default 4 at 15s) from an empty database
 *     (BENCH_BOT_SOURCES=kraken measures the same bot without ccxt);
 *   - ccxt's size on disk.
 * Warm-up first, then rounds; medians. Last line: parse + normalise of the 2,000-market answer.
 * BENCH_SKIP_BUILD=1 runs the existing dist/ as it is.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import mongoose from 'mongoose';
import { loadConfig } from '../src/config.js';
import { CollectorRun } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { ccxtLibrary, ccxtSource } from '../src/market/sources/ccxt.source.js';
import { parseTicker } from '../src/market/sources/kraken.source.js';
import { FakeBitstamp } from '../test/support/fake-bitstamp.js';
import { FakeCoinbase } from '../test/support/fake-coinbase.js';
import { FakeKraken } from '../test/support/fake-kraken.js';
import { binanceAnswer } from './_binance-answer.js';

const MARKETS = Number(process.env.BENCH_MARKETS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const TICKS = Number(process.env.BENCH_TICKS ?? 4);
/** The bot's sources for the peak RSS; `kraken` alone gives the figure without ccxt. */
const BOT_SOURCES = (process.env.BENCH_BOT_SOURCES ?? 'kraken,binance,coinbase,bitstamp').split(',');
const INTERVAL = process.env.BENCH_INTERVAL ?? '15s';
const WARMUP = 3;
const root = resolve(import.meta.dirname, '..');
const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- ccxt`');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);
const rss = () => {
  global.gc?.();
  return process.memoryUsage().rss;
};

const rssStart = rss();
const rssBeforeCcxt = rss();
const loadStarted = performance.now();
ccxtLibrary();
const loadMs = performance.now() - loadStarted;
const rssCcxt = rss();
const binance = await binanceAnswer(MARKETS);
const coinbase = await FakeCoinbase.start();
const bitstamp = await FakeBitstamp.start();
const dataDir = await mkdtemp(join(tmpdir(), 'bench-ccxt-'));
const ccxtUrls = `binance=${binance.fake.url},coinbase=${coinbase.url},bitstamp=${bitstamp.url}`;
const config = loadConfig({
  MARKET_SOURCE: 'binance,coinbase,bitstamp',
  CCXT_API_URLS: ccxtUrls,
  MARKETS: 'all',
  DATA_DIR: dataDir,
  LOG_LEVEL: 'warn',
});
initLogger(config);
const source = ccxtSource('binance', config);
const tick = new Date(Math.floor(Date.now() / 60_000) * 60_000);
await ccxtSource('coinbase', config).snapshot({ tick });
await ccxtSource('bitstamp', config).snapshot({ tick });
const rssThree = rss();

// Kraken's parser on the same number of pairs, for scale.
const krakenText = JSON.stringify({
  error: [],
  result: Object.fromEntries(
    Array.from({ length: MARKETS }, (_, i) => [
      `A${i}USD`,
      { c: ['100.5', '1'], h: ['101', '102'], l: ['99', '98'], o: '100', v: ['12.5', '40.25'], p: ['100.1', '100.2'] },
    ]),
  ),
});
function krakenParse(): number {
  const { result } = JSON.parse(krakenText) as { result: Record<string, unknown> };
  let n = 0;
  for (const key in result) if (parseTicker(`kraken:${key}`, result[key])) n++;
  return n;
}

const time = (fn: () => unknown) => {
  const started = performance.now();
  fn();
  return performance.now() - started;
};
for (let i = 0; i < WARMUP; i++) {
  binance.parseAndNormalise();
  krakenParse();
}
const parsed = binance.parseAndNormalise();
if (parsed !== MARKETS) throw new Error(`parsed ${parsed} of ${MARKETS} tickers`);
const ccxtTimes: number[] = [];
const krakenTimes: number[] = [];
const snapshotTimes: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  ccxtTimes.push(time(() => binance.parseAndNormalise()));
  krakenTimes.push(time(krakenParse));
}
for (let i = 0; i < Math.min(ROUNDS, 7); i++) {
  const started = performance.now();
  const snap = await source.snapshot({ tick });
  snapshotTimes.push(performance.now() - started);
  if (snap.quotes.length !== MARKETS) throw new Error(`snapshot had ${snap.quotes.length} quotes`);
}

const du = (path: string) => Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]) * 1024;
const ccxtDir = join(dirname(createRequire(import.meta.url).resolve('ccxt')), '..');
const modules = join(ccxtDir, '..');
// ccxt's own dependencies that nothing else here uses (package-lock.json).
const deps = ['@noble/curves', '@noble/hashes', '@scure/base', '@scure/starknet', 'fflate'];
const depsBytes = deps.reduce((sum, d) => {
  try {
    return sum + du(join(modules, d));
  } catch {
    return sum;
  }
}, 0);

// For comparison: one worker thread per exchange, each loading its own ccxt (what the scheduler
// did before every ccxt exchange shared one worker).
const workerCode = `
const { parentPort, workerData } = require('node:worker_threads');
const ccxt = require(workerData.ccxt);
const ex = new ccxt[workerData.id]({ enableRateLimit: true, options: { defaultType: 'spot', fetchMarkets: { types: ['spot'] } } });
ex.has = { ...ex.has, fetchCurrencies: false };
const rehost = (v) => typeof v === 'string' ? v.replace(/^https?:\\/\\/[^/]+/, workerData.url) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rehost(x)]));
ex.urls = { ...ex.urls, api: rehost(ex.urls.api) };
ex.loadMarkets().then(() => parentPort.postMessage('ready'), (e) => parentPort.postMessage(String(e)));
setInterval(() => {}, 1000);
`;
const rssBeforeWorkers = rss();
const workers = await Promise.all(
  [
    ['binance', binance.fake.url],
    ['coinbase', coinbase.url],
    ['bitstamp', bitstamp.url],
  ].map(
    ([id, url]) =>
      new Promise<Worker>((resolveWorker, reject) => {
        const w = new Worker(workerCode, {
          eval: true,
          workerData: { id, url, ccxt: createRequire(import.meta.url).resolve('ccxt') },
        });
        w.once('message', (m) => (m === 'ready' ? resolveWorker(w) : reject(new Error(String(m)))));
        w.once('error', reject);
      }),
  ),
);
const rssWorkers = rss();
await Promise.all(workers.map((w) => w.terminate()));

/** The bot, compiled, against the fakes: its process's peak RSS once every source has collected. */
async function botPeakRss(): Promise<{ peakKb: number; sampledKb: number; seconds: number }> {
  if (!process.env.BENCH_SKIP_BUILD) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  const kraken = await FakeKraken.start();
  // The fakes' candles end at their clock: for a run of minutes it follows the real one.
  const clock = setInterval(() => {
    for (const fake of [kraken, binance.fake, coinbase, bitstamp]) fake.now = Date.now();
  }, 1_000);
  const dbName = `bench_ccxt_${Date.now()}`;
  const botDir = await mkdtemp(join(tmpdir(), 'bench-ccxt-bot-'));
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ENV_FILE: '/dev/null',
      NODE_ENV: 'production',
      MONGODB_URI: `${uri}/${dbName}`,
      DATA_DIR: botDir,
      HTTP_PORT: '0',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      MARKET_SOURCE: BOT_SOURCES.join(','),
      MARKETS: 'all',
      COLLECT_INTERVAL: INTERVAL,
      KRAKEN_API_URL: kraken.url,
      SOURCE_REQUEST_GAP: '1ms',
      CCXT_API_URLS: ccxtUrls,
    },
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const status = async (field: string) => {
    const text = await readFile(`/proc/${child.pid}/status`, 'utf8');
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  };
  const started = Date.now();
  // Live ticks only: the first tick's backfill records a run for every missed tick before it.
  const intervalMs = loadConfig({ COLLECT_INTERVAL: INTERVAL }).market.intervalMs;
  const firstTick = new Date(Math.floor(started / intervalMs) * intervalMs);
  let sampledKb = 0;
  const sampler = setInterval(() => {
    status('VmRSS').then(
      (kb) => {
        sampledKb = Math.max(sampledKb, kb);
      },
      () => {},
    );
  }, 200);
  await mongoose.connect(uri!, { dbName });
  try {
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      const done = await Promise.all(
        BOT_SOURCES.map((s) =>
          CollectorRun.countDocuments({ source: s, status: { $in: ['ok', 'partial'] }, tick: { $gte: firstTick } }),
        ),
      );
      if (done.every((n) => n >= TICKS)) break;
      if (child.exitCode !== null) throw new Error(`the bot exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`ticks by source after 15 minutes: ${done.join(', ')}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const peakKb = await status('VmHWM');
    return { peakKb, sampledKb, seconds: (Date.now() - started) / 1000 };
  } finally {
    clearInterval(sampler);
    clearInterval(clock);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await mongoose.connection.dropDatabase().catch(() => {});
    await mongoose.disconnect();
    await kraken.stop();
    await rm(botDir, { recursive: true, force: true });
  }
}
const bot = await botPeakRss();

await binance.stop();
await coinbase.stop();
await bitstamp.stop();
await rm(dataDir, { recursive: true, force: true });

console.log(`markets: ${MARKETS}`);
console.log(`answer_bytes: ${binance.text.length}`);
console.log(`ccxt_load_ms: ${loadMs.toFixed(0)}`);
console.log(`rss_start_mb: ${mb(rssStart)}`);
console.log(`rss_added_by_ccxt_module_mb: ${mb(rssCcxt - rssBeforeCcxt)}`);
console.log(`rss_added_by_ccxt_and_three_exchanges_one_thread_mb: ${mb(rssThree - rssBeforeCcxt)}`);
console.log(`rss_added_by_three_workers_one_exchange_each_mb: ${mb(rssWorkers - rssBeforeWorkers)}`);
console.log(`node_modules_ccxt_mb: ${mb(du(ccxtDir))}`);
console.log(`node_modules_ccxt_with_deps_mb: ${mb(du(ccxtDir) + depsBytes)}`);
console.log(`snapshot_2000_markets_local_fake_ms: ${median(snapshotTimes).toFixed(1)}`);
console.log(`bot_run: ${TICKS} ticks per source at ${INTERVAL}, ${bot.seconds.toFixed(0)} s from an empty database`);
console.log(`bot_rss_sampled_max_mb: ${(bot.sampledKb / 1024).toFixed(0)}`);
console.log(`peak rss MB with ${BOT_SOURCES.join('+')}: ${(bot.peakKb / 1024).toFixed(0)}`);
console.log(`kraken_parse_normalise_ms: ${median(krakenTimes).toFixed(2)}`);
console.log(`ccxt_binance_parse_normalise_ms: ${median(ccxtTimes).toFixed(2)}`);
