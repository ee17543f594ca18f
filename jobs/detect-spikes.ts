/**
 * Bree job run by the collector's scheduler right after each tick. workerData:
 *   { dbUri, dbName?, tick: ISO string, source? }
 * Opens its own connection (workers share no memory with the main thread), runs one detection
 * pass, reports its figures to the parent and always ends. A failed run is logged and the next
 * tick's run catches up: detection reads the samples since each pair's last completed run.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { initLogger, log } from '../src/logger.js';
import { detectSpikes, type DetectResult } from '../src/market/detect.js';

export interface DetectSpikesData {
  dbUri: string;
  dbName?: string;
  tick: string;
  source?: string;
}

/** What the job posts to the parent before it ends. */
export type DetectSpikesMessage =
  | { type: 'detect-spikes'; ok: true; tick: string; source?: string; result: DetectResult }
  | { type: 'detect-spikes'; ok: false; tick: string; source?: string; error: string; cancelled?: boolean };

/** Bree nests custom data beside its own `job` entry; accept it either at the top or under workerData. */
function readData(raw: unknown): DetectSpikesData {
  const top = (raw ?? {}) as Record<string, unknown>;
  const nested = (top.workerData ?? {}) as Record<string, unknown>;
  const pick = (k: string) => (top[k] ?? nested[k]) as string | undefined;
  const data = { dbUri: pick('dbUri'), dbName: pick('dbName'), tick: pick('tick'), source: pick('source') };
  if (!data.dbUri || !data.tick || Number.isNaN(new Date(data.tick).getTime())) {
    throw new Error(`detect-spikes needs workerData {dbUri, tick}; got keys ${Object.keys({ ...top, ...nested }).join(', ')}`);
  }
  return data as DetectSpikesData;
}

/** Stops the worker waiting on a cancelled run for longer than a tick's detection ever takes. */
const CANCEL_GRACE_MS = 10_000;

async function main(): Promise<number> {
  const config = loadConfig();
  initLogger(config);
  const data = readData(workerData);
  const logger = log('detect-spikes', { job: 'detect-spikes', tick: data.tick, source: data.source });
  const post = (message: DetectSpikesMessage) => parentPort?.postMessage(message);

  let running = false;
  parentPort?.on('message', (message) => {
    if (message !== 'cancel') return;
    if (!running) {
      post({ type: 'detect-spikes', ok: false, tick: data.tick, source: data.source, error: 'cancelled before start', cancelled: true });
      process.exit(0);
    }
    // A started pass is short and keyed; letting it finish is safer than leaving half its writes.
    logger.info('cancel received; finishing the current pass');
    setTimeout(() => {
      logger.warn({ graceMs: CANCEL_GRACE_MS }, 'detection did not finish after cancel; exiting');
      process.exit(1);
    }, CANCEL_GRACE_MS).unref();
  });

  try {
    await connectDatabase(data.dbUri, { dbName: data.dbName, syncIndexes: false, attempts: 3 });
    running = true;
    const result = await detectSpikes({
      tick: new Date(data.tick),
      source: data.source,
      minPoints: config.alerts.minPoints,
      defaultFactor: config.alerts.factor,
      logger,
    });
    post({ type: 'detect-spikes', ok: true, tick: data.tick, source: data.source, result });
    return 0;
  } catch (err) {
    logger.error({ err }, 'spike detection failed; the next tick will catch up');
    post({ type: 'detect-spikes', ok: false, tick: data.tick, source: data.source, error: (err as Error).message });
    return 1;
  } finally {
    running = false;
    await disconnectDatabase().catch(() => {});
  }
}

const code = await main().catch((err) => {
  // Bad workerData or config: nothing ran, say why.
  log('detect-spikes').error({ err }, 'detect-spikes could not start');
  return 1;
});
if (parentPort) parentPort.postMessage('done');
process.exit(code);
