/**
 * The worker side of the scheduler, shared by the collector's jobs: config and logger from the
 * main thread's workerData (workers share no memory, and tests build their config in code, not
 * from the environment), an own database connection, `cancel` turned into an AbortSignal, and an
 * end that always comes: the job posts 'done' and Bree ends the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pretty from 'pino-pretty';
import { loadConfig, type Config } from './config.js';
import { connectDatabase, disconnectDatabase } from './db/connection.js';
import { initLogger, log } from './logger.js';
import type { TickResult } from './market/collect/index.js';
import type { PipelineTickResult } from './market/pipeline/pipeline.js';

export interface JobData {
  dbUri: string;
  dbName?: string;
  /** The tick an after-tick job works on (ISO string). */
  tick?: string;
  source?: string;
  /** Set by the scheduler for its own jobs. */
  config?: Config;
  owner?: string;
  /** How the main thread logs: 'pretty' makes the worker format lines in its own thread. */
  logFormat?: 'json' | 'pretty';
  logFile?: string;
  [key: string]: unknown;
}

/** What jobs post to the scheduler: one union, handled by one exhaustive switch there. */
export type WorkerMessage =
  | { type: 'tick-collected'; source: string; tick: string; result: WireTickResult }
  | { type: 'tick-result'; source: string; tick: string; result: WireTickResult; pipeline?: WirePipelineFigures }
  | {
      type: 'prune-result';
      samples: number;
      runs: number;
      frames: number;
      alerts: number;
      channels: number;
      subscriptions: number;
    }
  | { type: 'job-error'; name: string; error: string };

/** What the scheduler posts to a long-lived job (besides Bree's own 'cancel'). */
export type SchedulerMessage = { type: 'tick'; tick: string; source: string };

export type WireTickResult = Omit<TickResult, 'tick'> & { tick: string };
export type WirePipelineFigures = Omit<PipelineTickResult, 'result'> & {
  /** What the pipeline holds (book and cached frames), and the worker's whole V8 heap. */
  memoryBytes: number;
  heapBytes: number;
};

export interface JobContext {
  config: Config;
  data: JobData;
  signal: AbortSignal;
  /** A message for the scheduler (figures it relays to the main thread's metrics). */
  post(message: WorkerMessage): void;
  /**
   * Handles the scheduler's messages to a long-lived job, in order and one at a time per source:
   * a worker that serves several sources never lets one source's slow tick hold up another's.
   */
  onMessage(handler: (message: SchedulerMessage) => Promise<void>): void;
  /** Resolves when the job is cancelled and the messages in hand are handled: a long-lived job's end. */
  untilCancelled(): Promise<void>;
}

/** Runs one job body inside a Bree worker and always ends the worker. */
export async function runJob(name: string, body: (ctx: JobContext) => Promise<void>): Promise<void> {
  const data = (workerData ?? {}) as JobData;
  const config = data.config ?? loadConfig();
  // The main thread's 'auto' became pretty or JSON by its own terminal; a worker has none, so it
  // is told. Pretty lines are formatted synchronously here: a transport thread would lose the
  // last lines when Bree ends the worker.
  const logConfig = { ...config, log: { ...config.log, format: 'json' as const } };
  if (data.logFile) initLogger(logConfig, { file: data.logFile });
  else if (data.logFormat === 'pretty')
    initLogger(logConfig, {
      destination: pretty({
        destination: 1,
        sync: true,
        colorize: true,
        translateTime: 'SYS:HH:MM:ss',
        ignore: 'pid,hostname',
      }),
    });
  else initLogger(logConfig);
  const logger = log('job', { job: name });
  const controller = new AbortController();
  let handler: ((message: SchedulerMessage) => Promise<void>) | undefined;
  // Messages that arrive while the job is still connecting wait for its handler.
  const early: SchedulerMessage[] = [];
  const lanes = new Map<string, Promise<void>>();
  const enqueue = (message: SchedulerMessage) => {
    const h = handler!;
    const lane = (lanes.get(message.source) ?? Promise.resolve())
      .then(() => h(message))
      .catch((err: unknown) => {
        logger.error({ err, source: message.source }, 'job message failed');
        post({ type: 'job-error', name, error: (err as Error).message });
      });
    lanes.set(message.source, lane);
  };
  parentPort?.on('message', (message: unknown) => {
    if (message === 'cancel') {
      controller.abort();
      return;
    }
    if (!message || typeof message !== 'object') return;
    if (handler) enqueue(message as SchedulerMessage);
    else early.push(message as SchedulerMessage);
  });
  const post = (message: WorkerMessage) => parentPort?.postMessage(message);
  const untilCancelled = async () => {
    if (!controller.signal.aborted) {
      await new Promise<void>((resolve) =>
        controller.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    await Promise.all(lanes.values());
  };
  try {
    await connectDatabase(data.dbUri, { dbName: data.dbName, syncIndexes: false, attempts: 3 });
    await body({
      config,
      data,
      signal: controller.signal,
      post,
      onMessage: (h) => {
        handler = h;
        for (const m of early.splice(0)) enqueue(m);
      },
      untilCancelled,
    });
  } catch (err) {
    logger.error({ err }, 'job failed');
    post({ type: 'job-error', name, error: (err as Error).message });
  } finally {
    await disconnectDatabase().catch(() => {});
    if (parentPort) parentPort.postMessage('done');
    else process.exit(0);
  }
}
