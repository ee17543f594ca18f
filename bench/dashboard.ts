/**
 * `npm run bench -- dashboard`: the web dashboard under many viewers, on the compiled server (tsc,
 * as production runs it), over 1,000 markets.
 *
 * - push latency: from the moment a tick's statistics are ready (the update-stats pass returns)
 *   to the moment the last viewer has the whole tick event, with 1 viewer and with 1,000 connected
 *   stream viewers (target p95 <= 500 ms at 1,000);
 * - the server's CPU time per tick with 1 viewer and with 1,000 (target <= 2x apart): from the
 *   tick's write to a second after its last viewer got it, less what the server spends idle (its
 *   poller, measured over a few seconds without ticks) over that time, so a slow write on a busy
 *   machine does not count as work of the tick;
 * - the resident memory 1,000 viewers add (target <= 50 MB), after a full GC each time;
 * - requests per second of the page shell and of its script, compressed (brotli) with the cache
 *   headers on, checked before the load.
 *
 * Ticks are written as the collector writes them: the samples, the run record, then the
 * statistics pass. The viewers run in this process, the server in its own, the database in a third.
 * Last line: `viewers 1000 push p95 ms: <n>`.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request, Agent } from 'node:http';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { connectDatabase } from '../src/db/connection.js';
import { CollectorRun } from '../src/db/models/index.js';
import { saveSamples } from '../src/market/samples.js';
import { updateWindowStats } from '../src/market/window-stats.js';
import { buildWeb, webBuildIsStale } from '../src/web/build.js';
import { loadDataset, marketId, printLoad } from './_dataset.js';

const MARKETS = Number(process.env.BENCH_MARKETS ?? 1000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 60);
const VIEWERS = Number(process.env.BENCH_VIEWERS ?? 1000);
const TICKS = Number(process.env.BENCH_TICKS ?? 20);
/** CPU is counted from a tick's write to this long after its last viewer got it. */
const SETTLE_MS = 1_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- dashboard`');
const dbName = `bench_dashboard_${Date.now()}`;
const MINUTE = 60_000;

await connectDatabase(uri, { dbName });
let tick = Math.floor(Date.now() / MINUTE) * MINUTE;
printLoad(await loadDataset({ markets: MARKETS, samples: SAMPLES, tick: new Date(tick) }), SAMPLES);
await CollectorRun.create({ source: 'simulated', tick: new Date(tick), status: 'ok', finishedAt: new Date() });

// The server as production runs it: compiled by tsc, assets bundled.
const root = join(import.meta.dirname, '..');
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'bench', 'tsconfig.dashboard-server.json')],
  { stdio: 'inherit' },
);
if (webBuildIsStale()) await buildWeb();
const server: ChildProcess = fork(join(root, '.cache', 'bench-dashboard-server', 'bench', '_dashboard-server.js'), [], {
  execArgv: ['--expose-gc'],
  env: { ...process.env, BENCH_DB_NAME: dbName },
});
const [{ port }] = (await once(server, 'message')) as [{ port: number }];
const base = `http://127.0.0.1:${port}`;

interface Usage {
  cpuMs: number;
  rss: number;
  viewers: number;
  pushed: number;
  dropped: number;
  lastPush: { readMs: number; writeMs: number };
}
async function usage(kind: 'usage' | 'settled' = 'usage'): Promise<Usage> {
  server.send(kind);
  const [u] = (await once(server, 'message')) as [Usage];
  return u;
}

// --- viewers: a minimal stream reader that only looks for the end of the event it waits for ---
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
interface Viewer {
  /** Resolves with the time the awaited event ended, once `expect(id)` was called. */
  expect(id: string): Promise<number>;
  close(): void;
  readonly snapshot: Promise<void>;
}
function openViewer(): Promise<Viewer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/api/v1/stream`, { agent, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      let marker: Buffer | undefined;
      let inEvent = false;
      let lastByte = 0;
      let done: ((t: number) => void) | undefined;
      let gotSnapshot: (() => void) | undefined;
      const snapshot = new Promise<void>((ok) => (gotSnapshot = ok));
      const SNAP = Buffer.from('event: snapshot\n');
      res.on('data', (chunk: Buffer) => {
        if (gotSnapshot && chunk.includes(SNAP)) {
          gotSnapshot();
          gotSnapshot = undefined;
        }
        if (marker && done) {
          let from = 0;
          if (!inEvent) {
            const at = chunk.indexOf(marker);
            if (at >= 0) {
              inEvent = true;
              from = at + marker.length;
            }
          }
          if (inEvent) {
            const end = chunk.indexOf('\n\n', from);
            const straddles = from === 0 && lastByte === 10 && chunk[0] === 10;
            if (end >= 0 || straddles) {
              const finish = done;
              done = undefined;
              marker = undefined;
              inEvent = false;
              finish(performance.now());
            }
          }
        }
        lastByte = chunk[chunk.length - 1] ?? 0;
      });
      resolve({
        snapshot,
        expect(id) {
          marker = Buffer.from(`id: ${id}\nevent: tick\n`);
          inEvent = false;
          return new Promise((ok) => (done = ok));
        },
        close: () => req.destroy(),
      });
    });
    req.once('error', reject);
    req.end();
  });
}

async function openViewers(count: number): Promise<Viewer[]> {
  const out: Viewer[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => openViewer()));
    out.push(...batch);
  }
  await Promise.all(out.map((v) => v.snapshot));
  return out;
}

// --- ticks written as the collector writes them ---
let seed = 7;
const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
const lastPrice = new Map<string, number>();
async function writeTick(): Promise<{ id: string; readyAt: number; startedAt: number }> {
  const startedAt = performance.now();
  tick += MINUTE;
  const docs = Array.from({ length: MARKETS }, (_, i) => {
    const id = marketId(i);
    const price = (lastPrice.get(id) ?? 10 ** ((i % 9) - 4) * (1 + i / MARKETS)) * Math.exp((rand() - 0.5) * 0.002);
    lastPrice.set(id, price);
    return {
      market: id,
      ts: new Date(tick),
      source: 'simulated',
      last: price,
      high: price * 1.02,
      low: price * 0.98,
      changePct: (rand() - 0.5) * 10,
      volume24h: 1_000,
      quoteVolume24h: 1_000 * price,
      volumeMinute: rand() * 10,
    };
  });
  await saveSamples(docs);
  await CollectorRun.create({ source: 'simulated', tick: new Date(tick), status: 'ok', finishedAt: new Date() });
  await updateWindowStats({ tick: new Date(tick), source: 'simulated' });
  return { id: String(tick), readyAt: performance.now(), startedAt };
}

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Server CPU ms per second with no tick: the poller's own cost. */
async function idleRate(ms = 3_000): Promise<number> {
  const a = await usage();
  const t0 = performance.now();
  await sleep(ms);
  const b = await usage();
  return (b.cpuMs - a.cpuMs) / ((performance.now() - t0) / 1000);
}

/** Runs `count` ticks with these viewers: push latency of the last viewer, and server CPU per tick. */
async function ticks(
  viewers: Viewer[],
  count: number,
): Promise<{ last: number[]; all: number[]; cpu: number[]; reads: number[]; writes: number[] }> {
  const last: number[] = [];
  const all: number[] = [];
  const cpu: number[] = [];
  const reads: number[] = [];
  const writes: number[] = [];
  const idle = await idleRate();
  for (let k = 0; k < count; k++) {
    const before = await usage();
    const t = await writeTick();
    const arrivals = await Promise.all(viewers.map((v) => v.expect(t.id)));
    const latencies = arrivals.map((a) => a - t.readyAt);
    last.push(Math.max(...latencies));
    all.push(...latencies);
    await sleep(SETTLE_MS);
    const after = await usage();
    reads.push(after.lastPush.readMs);
    writes.push(after.lastPush.writeMs);
    cpu.push(Math.max(0, after.cpuMs - before.cpuMs - (idle * (performance.now() - t.startedAt)) / 1000));
  }
  return { last, all, cpu, reads, writes };
}

const MB = (bytes: number) => (bytes / 1e6).toFixed(1);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// Warm-up: the JIT, the answer cache, the first reads.
const one = await openViewers(1);
await ticks(one, 2);
const oneViewer = await ticks(one, TICKS);
const rssOne = (await usage('settled')).rss;

const more = await openViewers(VIEWERS - 1);
const crowd = [...one, ...more];
const attached = await usage('settled');
if (attached.viewers !== VIEWERS) throw new Error(`${attached.viewers} viewers attached, expected ${VIEWERS}`);
await ticks(crowd, 1);
const manyViewers = await ticks(crowd, TICKS);
const end = await usage('settled');
for (const v of crowd) v.close();

// Page and asset requests per second, compressed, with their cache headers checked first.
const page = await fetch(`${base}/`, { headers: { 'accept-encoding': 'br' } });
const html = await page.text();
const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
if (!script) throw new Error('the page names no script');
const asset = await fetch(`${base}${script}`, { headers: { 'accept-encoding': 'br' } });
await asset.arrayBuffer();
if (page.headers.get('cache-control') !== 'no-cache' || !page.headers.get('etag'))
  throw new Error('the page lacks its cache headers');
if (
  asset.headers.get('cache-control') !== 'public, max-age=31536000, immutable' ||
  asset.headers.get('content-encoding') !== 'br'
)
  throw new Error('the script is not served compressed and immutable');
async function rps(path: string): Promise<number> {
  const result = await autocannon({
    url: base,
    connections: 10,
    duration: SECONDS,
    headers: { 'accept-encoding': 'gzip, deflate, br' },
    requests: [{ method: 'GET', path }],
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${path}: ${bad} failed requests`);
  return result.requests.average;
}
await rps('/');
const pageRps = await rps('/');
const assetRps = await rps(script);
server.send('stop');
await once(server, 'exit');

console.log(`markets: ${MARKETS}`);
console.log(`viewers 1 push p50 ms: ${pct(oneViewer.last, 50).toFixed(0)}`);
console.log(`viewers 1 push p95 ms: ${pct(oneViewer.last, 95).toFixed(0)}`);
console.log(`viewers ${VIEWERS} push p50 ms (last viewer of each tick): ${pct(manyViewers.last, 50).toFixed(0)}`);
console.log(`viewers ${VIEWERS} push p95 ms, every viewer of every tick: ${pct(manyViewers.all, 95).toFixed(0)}`);
console.log(`viewers ${VIEWERS} dropped as slow: ${end.dropped}`);
console.log(
  `server push steps, median ms: 1 viewer read ${pct(oneViewer.reads, 50).toFixed(0)}, write ${pct(oneViewer.writes, 50).toFixed(1)}; ` +
    `${VIEWERS} viewers read ${pct(manyViewers.reads, 50).toFixed(0)}, write ${pct(manyViewers.writes, 50).toFixed(1)}`,
);
console.log(
  `server cpu ms per tick above idle, 1 viewer (mean over ${TICKS} ticks): ${mean(oneViewer.cpu).toFixed(0)}`,
);
console.log(`server cpu ms per tick above idle, ${VIEWERS} viewers: ${mean(manyViewers.cpu).toFixed(0)}`);
console.log(`server cpu per tick ratio ${VIEWERS}/1: ${(mean(manyViewers.cpu) / mean(oneViewer.cpu)).toFixed(2)}`);
console.log(`server rss with 1 viewer (after gc): ${MB(rssOne)} MB`);
console.log(`server rss with ${VIEWERS} viewers (after gc): ${MB(attached.rss)} MB`);
console.log(`server rss added by ${VIEWERS - 1} more viewers: ${MB(attached.rss - rssOne)} MB`);
console.log(`server rss after ${TICKS} ticks to ${VIEWERS} viewers (after gc): ${MB(end.rss)} MB`);
console.log(`page / rps (brotli, no-cache + etag): ${pageRps.toFixed(0)}`);
console.log(`asset ${script.replace(/-[A-Z0-9]+\./, '-<hash>.')} rps (brotli, immutable): ${assetRps.toFixed(0)}`);
console.log(`viewers ${VIEWERS} push p95 ms: ${pct(manyViewers.last, 95).toFixed(0)}`);
process.exit(0);
