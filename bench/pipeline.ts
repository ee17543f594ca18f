/**
 * `npm run bench -- pipeline`: the compiled bot (dist/src/main.js, as production runs it) with the
 * simulated source at COLLECT_INTERVAL=10s and every market's per-minute volume tracked, on the
 * benchmark's database server. For 1,000, 5,000 and 10,000 markets: 30 consecutive ticks after
 * warm-up; per tick the time from its boundary until its alerts were in the outbox, the pipeline's
 * own time, and a bare insertMany of as many sample documents run right after it (interleaved) on
 * the same server; the process's peak RSS (main thread and workers). First, the CPU the process
 * spends per tick with 24 markets at a 1-minute interval (about four minutes: one tick of warm-up,
 * then BENCH_IDLE_TICKS, default 3). The last four lines are the headline figures at 5,000 markets.
 *
 * BENCH_TICKS (default 30), BENCH_SIZES (default 1000,5000,10000) and BENCH_IDLE=0 (no 24-market run)
 * shorten a run.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import mongoose from 'mongoose';

const root = resolve(import.meta.dirname, '..');
const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- pipeline`');
const TICKS = Number(process.env.BENCH_TICKS ?? 30);
const SIZES = (process.env.BENCH_SIZES ?? '1000,5000,10000').split(',').map(Number);
const WARMUP = 3;

if (!existsSync(resolve(root, 'dist/src/main.js')) || process.env.BENCH_BUILD !== '0') {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? Number.NaN;
const p95 = (a: number[]) =>
  [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.ceil(a.length * 0.95) - 1)] ?? Number.NaN;
const round = (n: number, d = 2) => Number(n.toFixed(d));

function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in seconds (USER_HZ 100)
  } catch {
    return 0;
  }
}

function withDatabase(base: string, dbName: string): string {
  const url = new URL(base);
  url.pathname = `/${dbName}`;
  return url.toString();
}

interface TickLine {
  tick: string;
  status: string;
  markets: number;
  collectMs: number;
  statsMs: number;
  alerts: number;
  alertsAtMs?: number;
  book: string;
  phases?: Record<string, number>;
}

interface Run {
  ticks: TickLine[];
  insertMs: number[];
  peakRss: number;
  cpuPerTick: number;
}

async function runBot(
  markets: number,
  ticks: number,
  dbName: string,
  trackAll: boolean,
  interval = '10s',
  warmup = WARMUP,
): Promise<Run> {
  const conn = await mongoose.createConnection(uri!, { dbName }).asPromise();
  const scratch = conn.collection('bench_insert_baseline');
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      MONGODB_URI: withDatabase(uri!, dbName),
      MARKET_SOURCE: 'simulated',
      SIMULATED_MARKETS: String(markets),
      COLLECT_INTERVAL: interval,
      BACKFILL_MAX: '6m',
      HTTP_PORT: '0',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      SLACK_BOT_TOKEN: '',
      DISCORD_TOKEN: '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const seen: TickLine[] = [];
  const insertMs: number[] = [];
  let peakRss = 0;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, rssOf(child.pid!));
  }, 100);
  let tracked = !trackAll;
  let cpuStart = 0;
  let cpuEnd = 0;
  const done = new Promise<void>((resolveDone, reject) => {
    child.once('exit', (code) => reject(new Error(`bot exited with ${code} before ${ticks} ticks`)));
    lines.on('line', (line) => {
      let l: Record<string, unknown>;
      try {
        l = JSON.parse(line);
      } catch {
        return;
      }
      if (l.msg !== 'tick done') return;
      const t = l as unknown as TickLine;
      void (async () => {
        if (!tracked) {
          // Every market's per-minute volume, tracked in one channel.
          tracked = true;
          const ids = (
            await conn
              .collection('markets')
              .find({}, { projection: { _id: 1 } })
              .toArray()
          ).map((m) => m._id);
          await conn.collection('subscriptions').insertMany(
            ids.map((market) => ({
              channel: 'slack:TBENCH:CBENCH',
              market,
              metric: 'volume',
              factor: 3,
              cooldownMs: 0,
              createdAt: new Date(),
            })),
          );
          // The rules' version (src/alerts/subscriptions.ts): the bot reloads its rules when it moves.
          await conn
            .collection<{ _id: string; value: number }>('counters')
            .updateOne({ _id: 'subscriptions' }, { $inc: { value: 1 } }, { upsert: true });
          return;
        }
        seen.push(t);
        if (seen.length === warmup) cpuStart = cpuOf(child.pid!);
        if (seen.length > warmup) {
          // A bare insertMany of as many sample documents, right after the tick, on the same server.
          const ts = new Date(Date.parse(t.tick) + 1);
          const docs = Array.from({ length: t.markets }, (_, i) => ({
            market: `bench:m${i}-usd`,
            ts,
            source: 'bench',
            last: 1 + i,
            high: 1 + i,
            low: 1 + i,
            changePct: 0.5,
            volume24h: 1000,
            quoteVolume24h: 1000,
            volumeMinute: 1,
          }));
          const started = performance.now();
          await scratch.insertMany(docs, { ordered: false });
          insertMs.push(performance.now() - started);
        }
        if (seen.length === warmup + ticks) {
          cpuEnd = cpuOf(child.pid!);
          resolveDone();
        }
      })().catch(reject);
    });
  });
  try {
    await done;
  } finally {
    clearInterval(rssTimer);
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await conn.dropDatabase().catch(() => {});
    await conn.close();
  }
  return { ticks: seen.slice(warmup), insertMs, peakRss, cpuPerTick: (cpuEnd - cpuStart) / ticks };
}

// The fixed cost of a tick: 24 markets, nothing to alert on.
if (process.env.BENCH_IDLE !== '0') {
  // At the product's default interval, one minute: what the process spends between ticks (leases,
  // the deliverer's polls, timers) counts against the tick, as it does in production.
  const idleTicks = Number(process.env.BENCH_IDLE_TICKS ?? 3);
  const idle = await runBot(24, idleTicks, `bench_pipeline_idle_${Date.now()}`, false, '1m', 1);
  console.log(`cpu per tick at 24 markets, 1m interval s: ${round(idle.cpuPerTick, 3)}`);
}

const bySize = new Map<
  number,
  { latencyP95: number; pipelineMs: number; insertMs: number; peakRss: number; skipped: number }
>();
for (const size of SIZES) {
  const run = await runBot(size, TICKS, `bench_pipeline_${size}_${Date.now()}`, true);
  const latencies = run.ticks.map((t) => (t.alertsAtMs ?? t.collectMs + t.statsMs) / 1000);
  const pipelineMs = run.ticks.map((t) => t.collectMs + t.statsMs);
  const ticks = run.ticks.map((t) => Date.parse(t.tick));
  let skipped = 0;
  for (let i = 1; i < ticks.length; i++) skipped += Math.round((ticks[i]! - ticks[i - 1]!) / 10_000) - 1;
  const figures = {
    latencyP95: p95(latencies),
    pipelineMs: median(pipelineMs),
    insertMs: median(run.insertMs),
    peakRss: run.peakRss / 1e6,
    skipped,
  };
  bySize.set(size, figures);
  const phaseNames = ['fetched', 'written', 'edges', 'fold', 'judge', 'exact', 'store'];
  const phaseMedians = phaseNames.map((p) => `${p} ${round(median(run.ticks.map((t) => t.phases?.[p] ?? 0)), 0)}`);
  console.log(
    `markets ${size}: median ms: collect ${phaseMedians.slice(0, 2).join(', ')} (since its start); ${phaseMedians.slice(2).join(', ')}`,
  );
  const alerts = run.ticks.reduce((a, t) => a + t.alerts, 0);
  console.log(
    `markets ${size}: alert latency p50 s ${round(median(latencies))}, p95 s ${round(figures.latencyP95)}; ` +
      `pipeline ms per tick ${round(figures.pipelineMs, 0)} (insertMany ${round(figures.insertMs, 0)}); ` +
      `peak rss MB ${round(figures.peakRss, 0)}; ticks skipped ${skipped}; alerts ${alerts}`,
  );
}

const at5k = bySize.get(5000) ?? [...bySize.values()].at(-1)!;
const small = bySize.get(1000) ?? [...bySize.values()][0]!;
const large = bySize.get(10000) ?? [...bySize.values()].at(-1)!;
console.log(`alert latency p95 s: ${round(at5k.latencyP95)}`);
console.log(`peak rss MB: ${round(at5k.peakRss, 0)}`);
console.log(`growth 1k to 10k: ${round(large.pipelineMs / small.pipelineMs)}`);
console.log(`pipeline to insertMany: ${round(at5k.pipelineMs / at5k.insertMs)}`);
process.exit(0);
