/**
 * `npm run bench -- collect`: one collector tick of 5,000 Kraken markets (parse the Ticker JSON,
 * normalise, derive per-minute volume, one bulk write, bookkeeping) against a bare insertMany of
 * the same documents and against saving them one by one, on the same server. The Kraken answers
 * are served in-process (a fetch that returns prepared bodies) so the figure is the collector's
 * own cost, not the network's. Beside it, the time to turn a 2,000-market Binance ticker answer
 * into quotes through ccxt (bench/_binance-answer.ts). Warm-up first, then several rounds; medians.
 * Last line: the ratio of a tick to the bare insertMany (target <= 1.25).
 */
import mongoose from 'mongoose';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { Sample } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { collectTick } from '../src/market/collect/index.js';
import { krakenSource } from '../src/market/sources/kraken.source.js';
import { binanceAnswer } from './_binance-answer.js';

const MARKETS = Number(process.env.BENCH_MARKETS ?? 5_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const SLOW_ROUNDS = Number(process.env.BENCH_SLOW_ROUNDS ?? 3);
const WARMUP = 2;
const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- collect`');

const config = loadConfig({
  MARKET_SOURCE: 'kraken',
  KRAKEN_API_URL: 'http://kraken.invalid',
  SOURCE_REQUEST_GAP: '1ms',
  LOG_LEVEL: 'warn',
  BACKFILL_MAX: '1m',
});
initLogger(config);
await connectDatabase(uri, { dbName: `bench_collect_${Date.now()}` });

// Prepared answers in Kraken's format, one pair per market.
const pairs: Record<string, unknown> = {};
const names: string[] = [];
for (let i = 0; i < MARKETS; i++) {
  const base = `A${i.toString(36).toUpperCase().padStart(4, '0')}`;
  const key = `${base}USD`;
  names.push(key);
  pairs[key] = { altname: key, wsname: `${base}/USD`, base, quote: 'ZUSD', status: 'online' };
}
const assetPairs = JSON.stringify({ error: [], result: pairs });
let round = 0;
function ticker(): string {
  const result: Record<string, unknown> = {};
  names.forEach((key, i) => {
    const p = 1 + (i % 997) * 1.37 + round * 0.01;
    result[key] = {
      a: [`${p}`, '1', '1.0'],
      b: [`${p}`, '1', '1.0'],
      c: [`${p}`, '0.1'],
      v: [`${100 + round * 3 + i}`, `${5000 + i}`],
      p: [`${p}`, `${p}`],
      t: [10, 200],
      l: [`${p * 0.9}`, `${p * 0.9}`],
      h: [`${p * 1.1}`, `${p * 1.1}`],
      o: `${p * 0.98}`,
    };
  });
  return JSON.stringify({ error: [], result });
}
let tickerBody = ticker();
const fakeFetch = (async (input: string | URL | Request) => {
  const url = String(input);
  return new Response(url.includes('/AssetPairs') ? assetPairs : tickerBody, {
    status: 200,
    headers: { 'content-type': 'application/json' },
  });
}) as typeof fetch;
const source = krakenSource(config, { fetch: fakeFetch });

const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 86_400_000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function timedTick(): Promise<number> {
  round++;
  tickerBody = ticker(); // the next minute's answer; building it is not part of the tick
  const tick = new Date(T0 + round * 60_000);
  const started = performance.now();
  const result = await collectTick(config, 'kraken', { tick, owner: 'bench', source, backfillMaxMs: 0 });
  const ms = performance.now() - started;
  if (process.env.BENCH_PHASES) console.error(JSON.stringify(result.phases), Math.round(ms));
  if (result.inserted !== MARKETS)
    throw new Error(`tick wrote ${result.inserted}: ${result.status} ${result.error ?? ''}`);
  return ms;
}

/** The same documents a tick writes, for the baselines (their own timestamps: no duplicates). */
function documents(ts: Date) {
  return names.map((key, i) => ({
    market: `kraken:${key.toLowerCase().replace('usd', '')}-usd`,
    ts,
    source: 'kraken',
    last: 1 + i,
    high: 2 + i,
    low: i,
    changePct: 1.5,
    changeAbs: 0.1,
    volume24h: 5000 + i,
    quoteVolume24h: 9000 + i,
    volumeMinute: 3,
    volumeCum: 100 + i,
  }));
}
let baselineRound = 0;
async function timedBare(): Promise<number> {
  const docs = documents(new Date(T0 - ++baselineRound * 60_000));
  const started = performance.now();
  await Sample.collection.insertMany(docs, { ordered: false });
  return performance.now() - started;
}
async function timedOneByOne(): Promise<number> {
  const docs = documents(new Date(T0 - ++baselineRound * 60_000));
  const started = performance.now();
  for (const d of docs) await Sample.collection.insertOne(d);
  return performance.now() - started;
}
/** The same, through mongoose documents (`save()` per sample: casting and validation included). */
async function timedSaveOneByOne(): Promise<number> {
  const docs = documents(new Date(T0 - ++baselineRound * 60_000));
  const started = performance.now();
  for (const d of docs) await new Sample(d).save();
  return performance.now() - started;
}

// Warm-up: JIT, the JVM of the wire server, the catalog's first fill.
for (let i = 0; i < WARMUP; i++) {
  await timedTick();
  await timedBare();
}
await timedOneByOne();
await timedSaveOneByOne();

const ticks: number[] = [];
const bare: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  // Interleaved, so drift of the server (GC, JIT) falls on both alike.
  ticks.push(await timedTick());
  bare.push(await timedBare());
}
const slow: number[] = [];
const saved: number[] = [];
for (let i = 0; i < SLOW_ROUNDS; i++) {
  slow.push(await timedOneByOne());
  saved.push(await timedSaveOneByOne());
}

const parseStarted = performance.now();
await source.snapshot({ tick: new Date(T0) });
const parseMs = performance.now() - parseStarted;

const BINANCE_MARKETS = 2_000;
const binance = await binanceAnswer(BINANCE_MARKETS);
for (let i = 0; i < 3; i++) binance.parseAndNormalise();
const binanceTimes: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const started = performance.now();
  const quotes = binance.parseAndNormalise();
  binanceTimes.push(performance.now() - started);
  if (quotes !== BINANCE_MARKETS) throw new Error(`binance answer gave ${quotes} quotes of ${BINANCE_MARKETS}`);
}
await binance.stop();

await mongoose.connection.dropDatabase();
await disconnectDatabase();

const tickMs = median(ticks);
const bareMs = median(bare);
const slowMs = median(slow);
const savedMs = median(saved);
console.log(`database: ${process.env.BENCH_DATABASE_KIND ?? 'unknown'}`);
console.log(`markets: ${MARKETS}`);
console.log(`rounds: ${ROUNDS} (one by one: ${SLOW_ROUNDS}), after ${WARMUP} warm-up`);
console.log(`fetch_parse_normalise_ms: ${parseMs.toFixed(1)}`);
console.log(`tick_ms_median: ${tickMs.toFixed(1)}`);
console.log(`tick_ms_all: ${ticks.map((t) => t.toFixed(0)).join(' ')}`);
console.log(`bare_insertmany_ms_median: ${bareMs.toFixed(1)}`);
console.log(`bare_insertmany_ms_all: ${bare.map((t) => t.toFixed(0)).join(' ')}`);
console.log(`one_by_one_ms_median: ${slowMs.toFixed(1)}`);
console.log(`tick_faster_than_one_by_one: ${(slowMs / tickMs).toFixed(1)}x`);
console.log(`one_by_one_save_ms_median: ${savedMs.toFixed(1)}`);
console.log(`tick_faster_than_one_by_one_save: ${(savedMs / tickMs).toFixed(1)}x`);
console.log(`binance ${BINANCE_MARKETS}-market parse+normalise ms: ${median(binanceTimes).toFixed(1)}`);
console.log(`tick_vs_insertmany: ${(tickMs / bareMs).toFixed(2)}`);
