/**
 * `npm run bench -- chat`: how long commands take through the registry (validation, database,
 * rendering for all three platforms), against the 3-second acknowledgement budget the platforms
 * give. Seeds MARKETS markets (default 50) with a day of minute samples each, warms up, then runs
 * each command ROUNDS times (default 30) and reports the median and p95 in milliseconds, for
 * /metric and /rank both cold (query cache dropped each time) and cached; also the time to build a
 * 1,440-point chart URL. The last line is cold /metric's p95 as a share of the 3 s budget.
 *
 *   npm run bench -- chat
 *   BENCH_MARKETS=200 BENCH_ROUNDS=50 npm run bench -- chat
 */
import mongoose from 'mongoose';
import { buildChart } from '../src/chat/chart.js';
import { CommandRegistry, loadRegistry, type CommandContext } from '../src/chat/registry.js';
import { renderConsole } from '../src/chat/render-console.js';
import { renderDiscord } from '../src/chat/render-discord.js';
import { renderSlack } from '../src/chat/render-slack.js';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { initLogger } from '../src/logger.js';
import { invalidateCatalog, upsertMarkets } from '../src/market/catalog.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { clearQueryCaches } from '../src/market/queries.js';
import { updateWindowStats } from '../src/market/window-stats.js';

const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- chat` (bench/run.ts starts the database)');
const MARKETS = Number(process.env.BENCH_MARKETS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const WARMUP = 5;
const config = loadConfig({ LOG_LEVEL: 'silent', MARKET_SOURCE: 'simulated', COMMAND_RATE_LIMIT_PER_MINUTE: '10000' });
initLogger(config);

await connectDatabase(uri, { dbName: `bench_chat_${Date.now()}` });
const now = Math.floor(Date.now() / 60_000) * 60_000;
await upsertMarkets(
  Array.from({ length: MARKETS }, (_, i) => ({
    exchange: 'bench',
    base: `c${i}`,
    quote: 'usd',
    source: 'simulated',
    symbol: `C${i}USD`,
  })),
);
invalidateCatalog();
for (let i = 0; i < MARKETS; i++) {
  const rows: SampleInput[] = [];
  for (let m = 0; m < 1440; m++) {
    const price = 100 * (1 + 0.01 * (i + 1) * Math.sin(m / 30));
    rows.push({
      market: `bench:c${i}-usd`,
      ts: new Date(now - m * 60_000),
      source: 'simulated',
      last: price,
      high: price,
      low: price,
      changePct: 0,
      volume24h: 1000,
      quoteVolume24h: 1e5,
      volumeMinute: 1 + (m % 5),
    });
  }
  await saveSamples(rows);
}
// What the collector leaves after a tick: samples and window statistics.
await updateWindowStats({ tick: new Date(now), source: 'simulated' });

const registry = await loadRegistry(config);
const ctx: CommandContext = {
  platform: 'console',
  channel: 'console:bench',
  user: 'console:bench',
  mayManageChannel: true,
  config,
};
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/** `cold` drops the query layer's 5 s answer cache before each run, as for the first asker. */
async function time(line: string, cold = false): Promise<{ median: number; p95: number; failed: boolean }> {
  const parsed = CommandRegistry.parseLine(line)!;
  const times: number[] = [];
  let failed = false;
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    if (cold) clearQueryCaches();
    const t = performance.now();
    const reply = await registry.run(parsed.name, parsed.raw, ctx);
    renderSlack(reply);
    renderDiscord(reply);
    renderConsole(reply);
    if (i >= WARMUP) times.push(performance.now() - t);
    if (/something went wrong|No samples|no market has enough/i.test(`${reply.title} ${reply.text ?? ''}`))
      failed = true;
  }
  return { median: percentile(times, 0.5), p95: percentile(times, 0.95), failed };
}

console.log(`markets: ${MARKETS}`);
console.log(`rounds: ${ROUNDS}`);
const series = Array.from({ length: 1440 }, (_, m) => ({
  ts: new Date(now - (1439 - m) * 60_000),
  min: 99,
  max: 101,
  last: 100 + Math.sin(m / 30),
}));
const chartTimes: number[] = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  buildChart({ baseUrl: config.quickchartUrl, title: 'bench:c0-usd · price · 24h', label: 'price', series });
  chartTimes.push(performance.now() - t);
}
console.log(`chart_1440_points_median_ms: ${percentile(chartTimes, 0.5).toFixed(2)}`);

let metricP95 = NaN;
const runs: Array<[string, boolean]> = [
  ['/help', false],
  ['/tracking', false],
  ['/track bench:c1-usd', false],
  ['/rank price 24h', true],
  ['/rank price 24h', false],
  ['/metric bench:c1-usd', true],
  ['/metric bench:c1-usd', false],
  ['/metric bench:c2-usd volume 6h', true],
];
for (const [line, cold] of runs) {
  const r = await time(line, cold);
  const cached = line.startsWith('/rank') || line.startsWith('/metric') ? '_cached' : '';
  const key = `${line.slice(1).replace(/[^a-z0-9]+/gi, '_')}${cold ? '_cold' : cached}`;
  if (r.failed) console.log(`${key}: failed (no data or an error; see logs)`);
  else {
    console.log(`${key}_median_ms: ${r.median.toFixed(1)}`);
    console.log(`${key}_p95_ms: ${r.p95.toFixed(1)}`);
  }
  if (line === '/metric bench:c1-usd' && cold && !r.failed) metricP95 = r.p95;
}
await mongoose.connection.dropDatabase();
await disconnectDatabase();
console.log(`metric_p95_share_of_3s_ack_budget: ${(metricP95 / 3000).toFixed(4)}`);
