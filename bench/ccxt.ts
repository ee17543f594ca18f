/**
 * `npm run bench -- ccxt`: what the ccxt source costs.
 *   - parse and normalise of one 2,000-market Binance 24h ticker answer (JSON.parse, ccxt's
 *     parseTickers, our quotes), beside Kraken's hand-written parser on 2,000 pairs;
 *   - a whole snapshot of those 2,000 markets through the source against a local Binance fake;
 *   - what loading ccxt and three exchanges (binance with 2,000 markets, coinbase, bitstamp) adds
 *     to the process's RSS, and ccxt's size on disk.
 * Warm-up first, then rounds; medians. Last line: parse + normalise of the 2,000-market answer.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../src/config.js';
import { initLogger } from '../src/logger.js';
import { ccxtExchange, ccxtLibrary, ccxtSource, quoteFromTicker } from '../src/market/sources/ccxt.source.js';
import { parseTicker } from '../src/market/sources/kraken.source.js';
import { FakeBinance } from '../test/support/fake-binance.js';
import { FakeCoinbase } from '../test/support/fake-coinbase.js';

const MARKETS = Number(process.env.BENCH_MARKETS ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const WARMUP = 3;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);
const rss = () => {
  global.gc?.();
  return process.memoryUsage().rss;
};

const rssStart = rss();
const binance = await FakeBinance.start(
  Array.from({ length: MARKETS }, (_, i) => ({
    symbol: `A${i.toString(36).toUpperCase()}USDT`,
    base: `A${i.toString(36).toUpperCase()}`,
    quote: 'USDT',
    price: 1 + (i % 500),
  })),
);
const coinbase = await FakeCoinbase.start();
const config = loadConfig({
  MARKET_SOURCE: 'binance,coinbase,bitstamp',
  CCXT_API_URLS: `binance=${binance.url},coinbase=${coinbase.url}`,
  MARKETS: 'all',
  LOG_LEVEL: 'warn',
});
initLogger(config);

const rssBeforeCcxt = rss();
const loadStarted = performance.now();
ccxtLibrary();
const loadMs = performance.now() - loadStarted;
const rssCcxt = rss();
const source = ccxtSource('binance', config);
const cb = ccxtSource('coinbase', config);
ccxtSource('bitstamp', config);
const tick = new Date(Math.floor(Date.now() / 60_000) * 60_000);
await source.snapshot({ tick });
await cb.snapshot({ tick });
const rssThree = rss();

// The raw answer, as the exchange sends it.
const text = await (await fetch(`${binance.url}/api/v3/ticker/24hr`)).text();
const exchange = ccxtExchange('binance', config);
const bySymbolId = new Map(Object.values(exchange.markets ?? {}).map((m) => [m!.symbol, m!]));

function parseAndNormalise(): number {
  const raw = JSON.parse(text) as unknown[];
  const tickers = exchange.parseTickers(raw as never);
  let n = 0;
  for (const [symbol, t] of Object.entries(tickers)) {
    const m = bySymbolId.get(symbol);
    if (m && quoteFromTicker(`binance:${symbol}`, t)) n++;
  }
  return n;
}

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
  parseAndNormalise();
  krakenParse();
}
const parsed = parseAndNormalise();
if (parsed !== MARKETS) throw new Error(`parsed ${parsed} of ${MARKETS} tickers`);
const ccxtTimes: number[] = [];
const krakenTimes: number[] = [];
const snapshotTimes: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  ccxtTimes.push(time(parseAndNormalise));
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
const deps = [
  '@noble/curves',
  '@noble/hashes',
  '@scure/base',
  '@scure/starknet',
  'fflate',
  'bufferutil',
  'node-gyp-build',
];
const depsBytes = deps.reduce((sum, d) => {
  try {
    return sum + du(join(modules, d));
  } catch {
    return sum;
  }
}, 0);

// The scheduler runs one worker thread per source: each loads its own ccxt. Three workers, one
// exchange each, markets loaded (bitstamp without a fake: its instance only).
const workerCode = `
const { parentPort, workerData } = require('node:worker_threads');
const ccxt = require(workerData.ccxt);
const ex = new ccxt[workerData.id]({ enableRateLimit: true, options: { defaultType: 'spot', fetchMarkets: { types: ['spot'] } } });
ex.has = { ...ex.has, fetchCurrencies: false };
const rehost = (v) => typeof v === 'string' ? v.replace(/^https?:\\/\\/[^/]+/, workerData.url) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rehost(x)]));
if (workerData.url) ex.urls = { ...ex.urls, api: rehost(ex.urls.api) };
(workerData.url ? ex.loadMarkets() : Promise.resolve()).then(() => parentPort.postMessage('ready'), (e) => parentPort.postMessage(String(e)));
setInterval(() => {}, 1000);
`;
const rssBeforeWorkers = rss();
const workers = await Promise.all(
  [
    ['binance', binance.url],
    ['coinbase', coinbase.url],
    ['bitstamp', ''],
  ].map(
    ([id, url]) =>
      new Promise<Worker>((resolve, reject) => {
        const w = new Worker(workerCode, {
          eval: true,
          workerData: { id, url, ccxt: createRequire(import.meta.url).resolve('ccxt') },
        });
        w.once('message', (m) => (m === 'ready' ? resolve(w) : reject(new Error(String(m)))));
        w.once('error', reject);
      }),
  ),
);
const rssWorkers = rss();
await Promise.all(workers.map((w) => w.terminate()));

await binance.stop();
await coinbase.stop();

console.log(`markets: ${MARKETS}`);
console.log(`answer_bytes: ${text.length}`);
console.log(`ccxt_load_ms: ${loadMs.toFixed(0)}`);
console.log(`rss_start_mb: ${mb(rssStart)}`);
console.log(`rss_added_by_ccxt_module_mb: ${mb(rssCcxt - rssBeforeCcxt)}`);
console.log(`rss_added_by_ccxt_and_three_exchanges_mb: ${mb(rssThree - rssBeforeCcxt)}`);
console.log(`rss_added_by_three_workers_one_exchange_each_mb: ${mb(rssWorkers - rssBeforeWorkers)}`);
console.log(`node_modules_ccxt_mb: ${mb(du(ccxtDir))}`);
console.log(`node_modules_ccxt_with_deps_mb: ${mb(du(ccxtDir) + depsBytes)}`);
console.log(`snapshot_2000_markets_local_fake_ms: ${median(snapshotTimes).toFixed(1)}`);
console.log(`kraken_parse_normalise_ms: ${median(krakenTimes).toFixed(2)}`);
console.log(`ccxt_binance_parse_normalise_ms: ${median(ccxtTimes).toFixed(2)}`);
