/**
 * Bree in the main thread: the collect workers, the hourly
 * `prune-samples`, and the after-tick jobs (stats, spike detection) run in order after every tick
 * that wrote data. Jobs run in worker threads; their figures come back as messages and are counted
 * in this thread's Prometheus registry.
 *
 * Ticks are named per source (`collect-<source>`, what runJob takes), but workers are not: each
 * hand-written source runs in a worker of its own, and every ccxt exchange in one shared worker
 * (`collect-ccxt`), which loads ccxt once instead of once per exchange. Each source keeps its own
 * pipeline, lease and tick queue inside it (src/market/pipeline/serve.ts).
 *
 * Ticks are fired by our own timer at each interval boundary (plus a small offset, so the minute's
 * data is published), not by Bree's drifting setInterval: a tick's time is its boundary. A tick
 * still running at the next boundary makes that boundary skip; the next tick's backfill rebuilds it.
 *
 * From TypeScript sources the workers start through src/worker-bootstrap.mjs (tsx registered in
 * the worker); from a build (this file compiled to .js) Bree runs the compiled jobs directly.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Bree from 'bree';
import mongoose from 'mongoose';
import type { Config, SourceName } from './config.js';
import { log } from './logger.js';
import { alignTick, blankTickResult, leaseName, type TickResult } from './market/collect/index.js';
import { releaseLease, replicaId } from './market/lease.js';
import { BUILT_IN_SOURCES } from './market/sources/ccxt-exchanges.js';
import type { SchedulerMessage, WireTickResult, WorkerMessage } from './worker.js';
import {
  countDetectedAlerts,
  sourceErrors,
  samplesWritten,
  tickDuration,
  ticksTotal,
} from './observability/metrics.js';

export interface Scheduler {
  stop(): Promise<void>;
  runJob(name: string, workerData?: object): Promise<void>;
  /** The Bree jobs whose worker threads are running now (`collect-kraken`, `collect-ccxt`, ...). */
  workers(): string[];
  events: EventEmitter;
}

export interface SchedulerOptions {
  dbUri: string;
  dbName?: string;
  /** This replica's id for leases and run records (default host:pid:random). */
  owner?: string;
  /** Jobs run after each tick that wrote data, in order, when their file exists in jobs/. */
  afterTick?: string[];
  /** When the main thread logs to a file (console mode), workers log there too. */
  logFile?: string;
  /** Set false to schedule nothing (tests drive ticks with runJob). Default true. */
  autoStart?: boolean;
  /** How long stop() waits for jobs to honour cancel before ending their workers (default 10 s). */
  stopGraceMs?: number;
}

export interface TickEvent {
  source: string;
  tick: Date;
  status: TickResult['status'] | 'crashed';
  inserted: number;
  durationMs: number;
  /** Alerts the tick put in the outbox, and when (ms after the tick's boundary). */
  alerts?: number;
  alertsAtMs?: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');
const jobsDir = resolve(here, '..', 'jobs');
const bootstrap = join(here, 'worker-bootstrap.mjs');
const PRUNE_EVERY_MS = 3_600_000;
/**
 * A worker's young generation is capped: V8's default (up to 48 MB per isolate) is room a job's
 * short-lived objects do not need, and it counts in the process's RSS (docs/operations.md, "Memory").
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 8 };
/** Kinds that mean the source cannot be reached at all, as opposed to one bad answer. */
const UNREACHABLE = new Set(['network', 'timeout', 'http_5xx', 'rate_limited', 'http_4xx', 'api_error', 'malformed']);

/** The worker that collects a source: its own for a hand-written source, the shared one for ccxt's. */
export function collectWorkerOf(source: string): string {
  return (BUILT_IN_SOURCES as readonly string[]).includes(source) ? `collect-${source}` : 'collect-ccxt';
}

function jobFile(name: string): string | undefined {
  const file = join(jobsDir, `${name}${compiled ? '.js' : '.ts'}`);
  return existsSync(file) ? file : undefined;
}

type WireResult = WireTickResult;
type TickMessage = Extract<WorkerMessage, { type: 'tick-result' }>;

export async function startScheduler(config: Config, opts: SchedulerOptions): Promise<Scheduler> {
  const logger = log('scheduler');
  const events = new EventEmitter();
  const owner = opts.owner ?? replicaId();
  const sources = config.market.sources;
  const interval = config.market.intervalMs;
  const offset = Math.min(2_000, Math.round(interval * 0.05));
  const logFormat = config.log.format === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : config.log.format;
  const baseData = { dbUri: opts.dbUri, dbName: opts.dbName, config, owner, logFormat, logFile: opts.logFile };

  const afterTick = (opts.afterTick ?? []).filter((name) => {
    if (jobFile(name)) return true;
    logger.info({ job: name }, 'after-tick job has no file in jobs/ yet; skipped');
    return false;
  });
  const collectWorkers = [...new Set(sources.map(collectWorkerOf))];
  const sourcesOf = (worker: string) => sources.filter((s) => collectWorkerOf(s) === worker);
  const jobNames = [...new Set([...collectWorkers, 'prune-samples', ...afterTick])];
  const fileOf = (name: string) => jobFile(name.startsWith('collect-') ? 'collect-markets' : name);

  const brLog = log('bree');
  const bree = new Bree({
    root: false,
    // Bree types its logger as a whole Console; it calls only info, warn and error.
    logger: {
      info: (...args: unknown[]) => brLog.debug({ detail: args.slice(1) }, String(args[0])),
      warn: (...args: unknown[]) => brLog.warn({ detail: String(args[1] ?? '') }, String(args[0])),
      error: (...args: unknown[]) => brLog.error({ detail: String(args[1] ?? '') }, String(args[0])),
    } as unknown as Console,
    jobs: jobNames.map((name) => {
      const file = fileOf(name);
      if (!file) throw new Error(`job file for ${name} not found in ${jobsDir}`);
      return {
        name,
        path: compiled ? file : bootstrap,
        worker: { workerData: { ...baseData, entry: pathToFileURL(file).href }, resourceLimits: WORKER_LIMITS },
      };
    }),
    workerMessageHandler: ({ name, message }: { name: string; message: unknown }) => onMessage(name, message),
    errorHandler: (err: unknown, meta: { name?: string }) => {
      logger.error({ err, job: meta?.name }, 'job worker failed');
    },
  });
  // init() validates the jobs; the typings of bree 9.2 leave it out.
  await (bree as unknown as { init(): Promise<void> }).init();

  /** The tick each source waits on, by source. */
  const pendingTicks = new Map<string, { tick: string; resolve(m: TickMessage | undefined): void }>();
  /** Ticks whose collect step was already reported (source|tick). */
  const collectedTicks = new Map<string, boolean>();
  const reachable = new Map<string, boolean>();
  let stopping = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Map<string, Promise<void>>();

  function onMessage(name: string, raw: unknown): void {
    if (!raw || typeof raw !== 'object' || !('type' in raw)) return;
    const message = raw as WorkerMessage;
    switch (message.type) {
      case 'tick-collected':
        // The samples are written: the source's state is known before statistics and detection.
        collectedTicks.set(`${message.source}|${message.tick}`, true);
        reportReachability(message.result);
        return;
      case 'tick-result': {
        relayMetrics(message.result);
        if (message.pipeline?.detect) countDetectedAlerts(message.pipeline.detect.alertsByPlatform);
        const waiting = pendingTicks.get(message.source);
        if (waiting && waiting.tick === message.tick) {
          pendingTicks.delete(message.source);
          waiting.resolve(message);
        }
        events.emit('tick-figures', { name, ...message });
        return;
      }
      case 'prune-result':
        if (message.samples || message.runs || message.frames || message.alerts || message.channels)
          logger.debug({ job: name, ...message }, 'pruned');
        return;
      case 'job-error':
        logger.warn({ job: name, error: message.error }, 'job reported an error');
        return;
      default: {
        const unknown: never = message;
        logger.warn({ job: name, message: unknown }, 'unknown message from a job');
      }
    }
  }

  function relayMetrics(r: WireResult): void {
    ticksTotal.inc({ source: r.source, status: r.status });
    if (r.status === 'skipped') return;
    tickDuration.observe({ source: r.source }, r.durationMs / 1000);
    if (r.inserted + r.backfilled > 0) samplesWritten.inc({ source: r.source }, r.inserted + r.backfilled);
    for (const kind of r.sourceErrors) sourceErrors.inc({ source: r.source, kind });
  }

  /** Says once per change of state that a source cannot be reached, and what to do about it. */
  function reportReachability(r: WireResult): void {
    if (r.status === 'skipped') return;
    const ok = r.status === 'ok' || r.status === 'partial';
    const was = reachable.get(r.source);
    if (ok && was !== true) {
      logger.info(
        { source: r.source, markets: r.markets, backfilled: r.backfilled },
        was === false ? `${r.source} is reachable again; collecting` : `collecting from ${r.source}`,
      );
    } else if (!ok && was !== false && r.errorKind && UNREACHABLE.has(r.errorKind)) {
      const url =
        r.source === 'kraken'
          ? config.market.krakenUrl
          : r.source === 'cryptowatch'
            ? config.market.cryptowatchUrl
            : undefined;
      logger.error(
        { source: r.source, url, kind: r.errorKind, error: r.error },
        `cannot collect from ${r.source}${url ? ` at ${url}` : ''} (${r.errorKind}): no data is recorded until it answers. ` +
          'Retrying every tick; this is logged again only when it changes. ' +
          'To try the bot offline with simulated markets, run `npm run demo`.',
      );
    } else if (!ok && r.errorKind && r.errorKind !== 'cancelled' && !UNREACHABLE.has(r.errorKind)) {
      logger.warn({ source: r.source, kind: r.errorKind, error: r.error }, 'tick failed');
    }
    if (!ok && r.errorKind && !UNREACHABLE.has(r.errorKind)) return;
    reachable.set(r.source, ok);
  }

  /** Runs one worker to its end. Serialised per job name: Bree runs one worker per job at a time. */
  async function runWorker(name: string, data: object): Promise<void> {
    const job = bree.config.jobs.find((j: { name: string }) => j.name === name);
    if (!job) throw new Error(`unknown job "${name}" (known: ${jobNames.join(', ')})`);
    while (running.has(name)) await running.get(name);
    const file = fileOf(name)!;
    const done = new Promise<void>((resolveDone) => {
      const onDeleted = (deleted: string) => {
        if (deleted !== name) return;
        bree.off('worker deleted', onDeleted);
        resolveDone();
      };
      bree.on('worker deleted', onDeleted);
    });
    // Bree reads workerData when it creates the worker, synchronously inside run(): per-run data
    // (the tick) is set on the job right before.
    job.worker = { ...job.worker, workerData: { ...baseData, entry: pathToFileURL(file).href, ...data } };
    const finished = (async () => {
      await bree.run(name);
      await done;
    })();
    running.set(name, finished);
    try {
      await finished;
    } finally {
      running.delete(name);
    }
  }

  /** Starts a collect worker if it is not running (first tick, or after a crash), with every source it serves. */
  function ensurePipeline(worker: string): void {
    const workers = bree.workers as Map<string, unknown>;
    if (workers.has(worker)) return;
    const job = bree.config.jobs.find((j: { name: string }) => j.name === worker);
    if (!job) throw new Error(`unknown job "${worker}" (known: ${jobNames.join(', ')})`);
    const file = fileOf(worker)!;
    job.worker = {
      ...job.worker,
      workerData: { ...baseData, entry: pathToFileURL(file).href, sources: sourcesOf(worker) },
    };
    // Bree adds the worker to its map synchronously here: a second source's tick finds it running.
    void bree.run(worker);
  }

  async function runCollect(name: string, data: Record<string, unknown>): Promise<void> {
    const source = name.slice('collect-'.length) as SourceName;
    if (!sources.includes(source)) throw new Error(`unknown job "${name}" (sources: ${sources.join(', ')})`);
    const worker = collectWorkerOf(source);
    const tick = typeof data.tick === 'string' ? data.tick : alignTick(Date.now(), interval).toISOString();
    while (running.has(name)) await running.get(name);
    const started = Date.now();
    const finished = (async () => {
      ensurePipeline(worker);
      let onDeleted: ((deleted: string) => void) | undefined;
      const answered = new Promise<TickMessage | undefined>((resolve) => {
        pendingTicks.set(source, { tick, resolve });
        // A worker that ends (crash, stop) answers nothing: the tick counts as crashed.
        onDeleted = (deleted: string) => {
          if (deleted !== worker) return;
          if (pendingTicks.get(source)?.tick === tick) pendingTicks.delete(source);
          resolve(undefined);
        };
        bree.on('worker deleted', onDeleted);
      });
      (bree.workers as Map<string, { postMessage(m: SchedulerMessage): void }>).get(worker)?.postMessage({
        type: 'tick',
        tick,
        source,
      });
      const message = await answered;
      if (onDeleted) bree.off('worker deleted', onDeleted);
      const r: WireResult = message?.result ?? {
        ...blankTickResult(source, new Date(tick)),
        tick,
        durationMs: Date.now() - started,
        errorKind: 'internal',
        error: 'the worker ended without a result',
      };
      if (!message) {
        ticksTotal.inc({ source, status: 'failed' });
        if (!stopping) logger.error({ source, tick }, 'collect worker ended without a result');
      }
      if (!collectedTicks.delete(`${source}|${tick}`)) reportReachability(r);
      if ((r.status === 'ok' || r.status === 'partial') && !stopping) {
        for (const after of afterTick) {
          if (stopping) break;
          try {
            await runWorker(after, { tick: r.tick, source });
          } catch (err) {
            logger.error({ err, job: after }, 'after-tick job failed');
          }
          events.emit('job-done', { name: after, tick: new Date(r.tick) });
        }
      }
      if (message?.pipeline?.stats) {
        const st = message.pipeline.stats;
        logger.debug(
          {
            source,
            tick: r.tick,
            status: r.status,
            markets: r.markets,
            collectMs: r.durationMs,
            statsMs: st.durationMs,
            phases: { ...r.phases, ...st.phases },
            book: st.book,
            alerts: message.pipeline.detect?.alerts ?? 0,
            alertsAtMs: message.pipeline.alertsAtMs,
            memoryBytes: message.pipeline.memoryBytes,
            heapBytes: message.pipeline.heapBytes,
            mainHeapBytes: process.memoryUsage().heapUsed,
            rssBytes: process.memoryUsage.rss(),
          },
          'tick done',
        );
      }
      events.emit('tick', {
        source,
        tick: new Date(r.tick),
        status: message ? r.status : 'crashed',
        inserted: r.inserted,
        durationMs: r.durationMs,
        alerts: message?.pipeline?.detect?.alerts ?? 0,
        alertsAtMs: message?.pipeline?.alertsAtMs,
      } satisfies TickEvent);
    })();
    running.set(name, finished);
    try {
      await finished;
    } finally {
      running.delete(name);
    }
  }

  async function runJob(name: string, workerData: object = {}): Promise<void> {
    if (stopping) return;
    if (name.startsWith('collect-')) return runCollect(name, workerData as Record<string, unknown>);
    await runWorker(name, workerData);
  }

  const swallow = (what: string) => (err: unknown) => logger.error({ err, job: what }, 'job run failed');

  function scheduleTick(source: SourceName): void {
    if (stopping) return;
    const now = Date.now();
    const boundary = Math.floor(now / interval) * interval + interval;
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        scheduleTick(source);
        const name = `collect-${source}`;
        // A tick still running at the next boundary: skip this one; the next tick backfills it.
        if (running.has(name)) {
          logger.debug(
            { source, tick: new Date(boundary).toISOString() },
            'previous tick still running; this one is skipped',
          );
          return;
        }
        void runJob(name, { tick: new Date(boundary).toISOString() }).catch(swallow(name));
      },
      boundary + offset - now,
    );
    timers.add(timer);
  }

  if (opts.autoStart !== false) {
    for (const source of sources) {
      // Collect at once (an empty database backfills its history), then at every boundary.
      void runJob(`collect-${source}`).catch(swallow(`collect-${source}`));
      scheduleTick(source);
    }
    const prune = setInterval(() => void runJob('prune-samples').catch(swallow('prune-samples')), PRUNE_EVERY_MS);
    timers.add(prune);
    logger.info(
      { sources, intervalMs: interval, afterTick, owner, mode: compiled ? 'compiled' : 'tsx' },
      'scheduler started',
    );
  }

  let stopped: Promise<void> | undefined;
  async function stop(): Promise<void> {
    stopped ??= (async () => {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const grace = opts.stopGraceMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      // Jobs finish or abandon their tick on cancel; one that does not is ended after the grace.
      const graceful = await Promise.race([
        bree.stop().then(() => true),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), grace);
        }),
      ]);
      clearTimeout(timer);
      if (!graceful) {
        const workers = bree.workers as Map<string, { terminate(): Promise<number> }>;
        logger.warn({ jobs: [...workers.keys()] }, 'jobs did not stop within the grace period; ending their workers');
        await Promise.all([...workers.values()].map((w) => w.terminate().catch(() => 0)));
        workers.clear();
      }
      await Promise.allSettled([...running.values()]);
      // Hand the leases over now rather than let a standby wait out their expiry.
      if (mongoose.connection.readyState === 1) {
        await Promise.all(sources.map((s) => releaseLease(leaseName(s), owner).catch(() => {})));
      }
      logger.info('scheduler stopped');
    })();
    return stopped;
  }

  const workers = () => [...(bree.workers as Map<string, unknown>).keys()];
  return { stop, runJob, workers, events };
}
