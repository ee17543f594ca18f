/**
 * `npm run bench -- commands`: the time to compute a /metric answer (getMarketReport) and a /rank
 * answer (getRanking) in process, over 1,000 markets x 1,440 one-minute samples. Cold figures pass
 * `now`, which skips the few-second answer cache, so every call reads the blocks and the window
 * statistics again; warm figures are what a burst of the same question costs. Target: p95 < 100 ms.
 * Last line: the larger cold p95, in ms.
 */
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { getMarketReport, getRanking } from '../src/market/queries.js';
import { saveSamples } from '../src/market/samples.js';
import { updateWindowStats } from '../src/market/window-stats.js';
import { loadDataset, marketId, printLoad } from './_dataset.js';

const MARKETS = Number(process.env.BENCH_MARKETS ?? 1000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 1440);
const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- commands`');
await connectDatabase(uri, { dbName: `bench_commands_${Date.now()}` });

const tick = new Date(Math.floor(Date.now() / 60_000) * 60_000);
const data = await loadDataset({ markets: MARKETS, samples: SAMPLES, tick });
printLoad(data, SAMPLES);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
async function measure(label: string, rounds: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(10, rounds); i++) await fn(i + 10_000); // JVM and V8 warm-up
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  const p95 = percentile(times, 95);
  console.log(`${label} p50: ${p50.toFixed(1)} ms`);
  console.log(`${label} p95: ${p95.toFixed(1)} ms`);
  return p95;
}

let seed = 7;
const pick = () => marketId((seed = (seed * 48271) % 2147483647) % MARKETS);
const now = new Date(tick.getTime() + 30_000);

const metricCold = await measure('/metric cold (24h report: blocks + stats + rank)', 200, () =>
  getMarketReport(pick(), { now }),
);
await measure('/metric cold 7d', 50, () => getMarketReport(pick(), { window: '7d', now }));
const rankCold = await measure('/rank cold (24h ranking of every market)', 100, () => getRanking({ now }));
await measure('/metric warm (answer cache)', 500, (i) => getMarketReport(marketId(i % 20)));
await measure('/rank warm (answer cache)', 500, () => getRanking());
// What an exact rebuild of the statistics costs after an ordinary tick: one new sample per market.
for (let k = 1; k <= 3; k++) {
  const t = new Date(tick.getTime() + k * 60_000);
  await saveSamples(
    data.markets.map((market, i) => ({
      market,
      ts: t,
      source: 'simulated',
      last: 1 + i,
      high: 2 + i,
      low: i,
      changePct: 0,
      volume24h: 1,
      volumeMinute: 1,
    })),
  );
  const r = await updateWindowStats({ tick: t, source: 'simulated' });
  console.log(
    `exact statistics rebuild after tick ${k}: ${r.durationMs} ms (${r.markets} markets, ${r.samplesRead} samples read)`,
  );
}
console.log(`rss: ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
await disconnectDatabase();
console.log(`commands p95 (larger of /metric and /rank, cold): ${Math.max(metricCold, rankCold).toFixed(1)}`);
