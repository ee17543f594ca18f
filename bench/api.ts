/**
 * `npm run bench -- api`: requests per second of GET /api/v1/markets/:market against the no-op
 * GET /api/v1/ping on the same server, same load tool (autocannon), same run, over 1,000 markets
 * x 1,440 one-minute samples. Requests rotate over every market, so misses of the answer cache
 * (one per market every few seconds) are part of the figure. The server runs in its own process;
 * its resident memory is reported (target < 250 MB). Last line: market rps / no-op rps (target >= 0.5).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { loadDataset, marketId, printLoad } from './_dataset.js';

const MARKETS = Number(process.env.BENCH_MARKETS ?? 1000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 1440);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const uri = process.env.BENCH_MONGODB_URI;
if (!uri) throw new Error('run through `npm run bench -- api`');
const dbName = `bench_api_${Date.now()}`;

await connectDatabase(uri, { dbName });
const tick = new Date(Math.floor(Date.now() / 60_000) * 60_000);
printLoad(await loadDataset({ markets: MARKETS, samples: SAMPLES, tick }), SAMPLES);
await disconnectDatabase();

const server = fork(join(import.meta.dirname, '_api-server.ts'), [], {
  execArgv: ['--import', 'tsx', '--expose-gc'],
  env: { ...process.env, BENCH_DB_NAME: dbName },
});
const [{ port }] = (await once(server, 'message')) as [{ port: number }];
const base = `http://127.0.0.1:${port}`;

let next = 0;
const paths = Array.from({ length: MARKETS }, (_, i) => `/api/v1/markets/${marketId(i).slice(4)}`);

async function run(label: string, path: string | null, seconds: number): Promise<number> {
  const result = await autocannon({
    url: base,
    connections: 10,
    duration: seconds,
    requests: [path ? { method: 'GET', path } : { method: 'GET', setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length]! }) }],
  });
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${label}: ${bad} failed requests (non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts})`);
  if (seconds >= SECONDS) {
    console.log(`${label} rps: ${result.requests.average.toFixed(0)} (p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms)`);
  }
  return result.requests.average;
}

// Warm-up: the JIT, and a first answer for every market (what the first minute after a tick costs).
await run('warm-up no-op', '/api/v1/ping', 3);
const firstPass = performance.now();
for (const path of paths) {
  const res = await fetch(base + path);
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  await res.arrayBuffer();
}
console.log(`first answer of every market, one by one: ${((performance.now() - firstPass) / paths.length).toFixed(1)} ms each`);
await run('warm-up market', null, 3);
const noop: number[] = [];
const market: number[] = [];
for (let round = 0; round < 2; round++) {
  noop.push(await run(`round ${round + 1} no-op GET /api/v1/ping`, '/api/v1/ping', SECONDS));
  market.push(await run(`round ${round + 1} GET /api/v1/markets/:market`, null, SECONDS));
}
server.send('memory');
const [memory] = (await once(server, 'message')) as [{ rss: number; heapUsed: number; rssAfterGc: number; heapAfterGc: number }];
console.log(`server rss right after load: ${Math.round(memory.rss / 1e6)} MB (heap used ${Math.round(memory.heapUsed / 1e6)} MB)`);
console.log(`server rss after a full GC: ${Math.round(memory.rssAfterGc / 1e6)} MB (heap used ${Math.round(memory.heapAfterGc / 1e6)} MB)`);
server.send('stop');
await once(server, 'exit');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`no-op rps (mean): ${mean(noop).toFixed(0)}`);
console.log(`market rps (mean): ${mean(market).toFixed(0)}`);
console.log(`market/no-op ratio: ${(mean(market) / mean(noop)).toFixed(2)}`);
