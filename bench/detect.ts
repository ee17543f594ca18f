/**
 * `npm run bench -- detect`: spike detection time per tick at 100, 1,000 and 10,000 tracked
 * (market, metric) pairs. Each size gets its own database holding an hour of minute samples per
 * market (what a running collector leaves), one subscription per pair and baselines built by a
 * first, untimed run; then each tick's samples are inserted (untimed) and detection is timed.
 * About 1% of points spike, so alert writes are part of the figure. Reports the median of the
 * measured ticks after warm-up ticks; the last line is time(10,000) / time(1,000).
 *
 *   npm run bench -- detect                 100, 1000, 10000 pairs
 *   BENCH_PAIRS=100,1000 npm run bench -- detect
 */
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { createLogger } from '../src/logger.js';
import { Sample, Subscription } from '../src/db/models/index.js';
import { detectSpikes } from '../src/alerts/detect.js';

const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- detect` (bench/run.ts starts the database)');
const sizes = (process.env.BENCH_PAIRS ?? '100,1000,10000').split(',').map(Number);
const HISTORY = Number(process.env.BENCH_HISTORY_TICKS ?? 60);
const WARMUP = 2;
const MEASURED = 5;
const TICK_MS = 60_000;
const T0 = Date.UTC(2026, 0, 5, 0, 0);
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', format: 'json', secrets: [] });

let seed = 1;
const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;

function samplesAt(n: number, tick: number) {
  const ts = new Date(T0 + tick * TICK_MS);
  const rows = [];
  for (let i = 0; i < n; i++) {
    const v = 5 + rand() * 10;
    rows.push({
      market: `bench:m${i}-usd`,
      ts,
      source: 'simulated',
      last: 100 + rand(),
      high: 101,
      low: 99,
      changePct: 0.5,
      volume24h: 10_000,
      quoteVolume24h: 1_000_000,
      volumeMinute: rand() < 0.01 ? v * 20 : v,
    });
  }
  return rows;
}

async function insertChunked(rows: Record<string, unknown>[]) {
  for (let i = 0; i < rows.length; i += 5_000)
    await Sample.collection.insertMany(rows.slice(i, i + 5_000), { ordered: false });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const results = new Map<number, number>();
for (const n of sizes) {
  await connectDatabase(uri, { dbName: `bench_detect_${n}_${process.pid}` });
  try {
    const setupStarted = performance.now();
    await Subscription.collection.insertMany(
      Array.from({ length: n }, (_, i) => ({
        channel: `slack:TBENCH:C${i % 50}`,
        market: `bench:m${i}-usd`,
        metric: 'volume',
        factor: 3,
        cooldownMs: 15 * 60_000,
        snoozedUntil: null,
        lastAlertAt: null,
        suppressed: 0,
        disabled: false,
      })),
    );
    for (let t = -HISTORY; t <= 0; t++) await insertChunked(samplesAt(n, t));
    const bootstrapStarted = performance.now();
    const first = await detectSpikes({ tick: new Date(T0), minPoints: 30, logger });
    const bootstrapMs = performance.now() - bootstrapStarted;
    if (first.bootstrapped !== n) throw new Error(`expected ${n} new baselines, got ${first.bootstrapped}`);

    const times: number[] = [];
    let alerts = 0;
    for (let t = 1; t <= WARMUP + MEASURED; t++) {
      await insertChunked(samplesAt(n, t));
      const started = performance.now();
      const r = await detectSpikes({ tick: new Date(T0 + t * TICK_MS), minPoints: 30, logger });
      const ms = performance.now() - started;
      if (r.points !== n) throw new Error(`tick ${t}: judged ${r.points} points, expected ${n}`);
      if (t > WARMUP) {
        times.push(ms);
        alerts += r.alerts;
      }
    }
    const ms = median(times);
    results.set(n, ms);
    console.log(`pairs_${n}_setup_s: ${((bootstrapStarted - setupStarted) / 1000).toFixed(1)}`);
    console.log(
      `pairs_${n}_first_run_ms: ${bootstrapMs.toFixed(0)} (builds the baselines from the hour of samples, once)`,
    );
    console.log(`pairs_${n}_alerts_per_tick: ${(alerts / MEASURED).toFixed(1)}`);
    console.log(
      `pairs_${n}_tick_ms: ${ms.toFixed(1)} (median of ${MEASURED}, range ${Math.min(...times).toFixed(0)}-${Math.max(...times).toFixed(0)})`,
    );
  } finally {
    await mongoose.connection.dropDatabase().catch(() => {});
    await disconnectDatabase();
  }
}

const t1k = results.get(1_000);
const t10k = results.get(10_000);
if (t1k !== undefined) console.log(`pairs_1000_share_of_1m_tick: ${((t1k / TICK_MS) * 100).toFixed(2)}%`);
if (t1k !== undefined && t10k !== undefined) console.log(`ratio_10000_over_1000: ${(t10k / t1k).toFixed(2)}`);
