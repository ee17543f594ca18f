/**
 * `npm run bench -- api`: requests per second of GET /api/v1/markets/:market against the no-op
 * GET /api/v1/ping on the same server, same load tool (autocannon), same run, over 1,000 markets
 * x 1,440 one-minute samples. Requests rotate over every market, so misses of the answer cache
 * (one per market every few seconds) are part of the figure. The server runs in its own process;
 * its resident memory is reported (target < 250 MB), and so is /healthz's latency while 60 unknown
 * market names are looked up at once (target < 200 ms). Last line: market rps / no-op rps (target >= 0.5).
 * Headline figures are of the compiled server (why, and the tsx run: docs/api.md, Benchmark).
 */
import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
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

// The same compiler and options as `npm run build`, into .cache/ so a build in dist/ is left alone.
const root = join(import.meta.dirname, '..');
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'bench', 'tsconfig.server.json')],
  { stdio: 'inherit' },
);
const compiledServer = join(root, '.cache', 'bench-api-server', 'bench', '_api-server.js');

const paths = Array.from({ length: MARKETS }, (_, i) => `/api/v1/markets/${marketId(i).slice(4)}`);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const MB = (bytes: number) => Math.round(bytes / 1e6);

interface Memory {
  rss: number;
  heapUsed: number;
  rssAfterGc: number;
  heapAfterGc: number;
}

/** Starts one server process, runs the whole load against it, returns its rps and memory. */
async function measure(kind: 'compiled' | 'tsx'): Promise<{
  noop: number;
  market: number;
  idleRss: number;
  peakRss: number;
  memory: Memory;
  healthz?: { noop: number; unknown: number };
}> {
  const server =
    kind === 'compiled'
      ? fork(compiledServer, [], { execArgv: ['--expose-gc'], env: { ...process.env, BENCH_DB_NAME: dbName } })
      : fork(join(import.meta.dirname, '_api-server.ts'), [], {
          execArgv: ['--import', 'tsx', '--expose-gc'],
          env: { ...process.env, BENCH_DB_NAME: dbName },
        });
  const [{ port }] = (await once(server, 'message')) as [{ port: number }];
  const base = `http://127.0.0.1:${port}`;
  // Resident memory as the kernel counts it, sampled through the load: the peak, not just the end.
  const rssNow = () =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  const idleRss = rssNow();
  let peakRss = idleRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssNow())), 200);
  let next = 0;

  async function run(label: string, path: string | null, seconds: number): Promise<number> {
    const result = await autocannon({
      url: base,
      connections: 10,
      duration: seconds,
      requests: [
        path
          ? { method: 'GET', path }
          : { method: 'GET', setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length]! }) },
      ],
    });
    const bad = result.non2xx + result.errors + result.timeouts;
    if (bad > 0)
      throw new Error(
        `${label}: ${bad} failed requests ` +
          `(non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts})`,
      );
    if (seconds >= SECONDS) {
      console.log(
        `${kind} ${label} rps: ${result.requests.average.toFixed(0)} ` +
          `(p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms)`,
      );
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
  console.log(
    `${kind} first answer of every market, one by one: ` +
      `${((performance.now() - firstPass) / paths.length).toFixed(1)} ms each`,
  );
  await run('warm-up market', null, 3);
  const noop: number[] = [];
  const market: number[] = [];
  for (let round = 0; round < 2; round++) {
    noop.push(await run(`round ${round + 1} no-op GET /api/v1/ping`, '/api/v1/ping', SECONDS));
    market.push(await run(`round ${round + 1} GET /api/v1/markets/:market`, null, SECONDS));
  }
  const healthz =
    kind === 'compiled'
      ? {
          noop: await healthzUnder(base, () => '/api/v1/ping'),
          unknown: await healthzUnder(base, () => `/api/v1/markets/${randomBytes(32).toString('hex')}`),
        }
      : undefined;
  clearInterval(sampler);
  server.send('memory');
  const [memory] = (await once(server, 'message')) as [Memory];
  server.send('stop');
  await once(server, 'exit');
  return { noop: mean(noop), market: mean(market), idleRss, peakRss, memory, healthz };
}

/**
 * /healthz latency while 60 requests for distinct unknown 64-character market names arrive at
 * once: each unknown name is looked up for suggestions on the event loop that /healthz (and Slack's
 * acknowledgements) share. Worst of five rounds, each with fresh names; the same with 60 no-op
 * requests instead is the floor that the HTTP handling alone sets on this machine.
 */
async function healthzUnder(base: string, path: () => string): Promise<number> {
  let worst = 0;
  for (let round = 0; round < 5; round++) {
    const burst = Array.from({ length: 60 }, () => fetch(`${base}${path()}`).then((r) => r.arrayBuffer()));
    const started = performance.now();
    const res = await fetch(`${base}/healthz`);
    await res.arrayBuffer();
    worst = Math.max(worst, performance.now() - started);
    await Promise.all(burst);
  }
  return worst;
}

function printMemory(kind: string, m: Awaited<ReturnType<typeof measure>>): void {
  console.log(`${kind} server rss idle: ${MB(m.idleRss)} MB`);
  console.log(`${kind} server rss peak under load (sampled every 200 ms): ${MB(m.peakRss)} MB`);
  console.log(`${kind} server rss right after load: ${MB(m.memory.rss)} MB (heap used ${MB(m.memory.heapUsed)} MB)`);
  console.log(
    `${kind} server rss after a full GC: ${MB(m.memory.rssAfterGc)} MB (heap used ${MB(m.memory.heapAfterGc)} MB)`,
  );
}

const compiled = await measure('compiled');
if (process.env.BENCH_TSX !== '0') printMemory('tsx', await measure('tsx'));
printMemory('compiled', compiled);
console.log(`no-op rps (mean, compiled server): ${compiled.noop.toFixed(0)}`);
console.log(`market rps (mean, compiled server): ${compiled.market.toFixed(0)}`);
console.log(
  `healthz during 60 parallel no-op requests (worst of 5, compiled server): ${compiled.healthz?.noop.toFixed(0)} ms`,
);
console.log(
  `healthz during 60 parallel unknown 64-character market names (worst of 5, compiled server; target < 200 ms): ${compiled.healthz?.unknown.toFixed(0)} ms`,
);
console.log(`market/no-op ratio: ${(compiled.market / compiled.noop).toFixed(2)}`);
