/**
 * Bree job run by the collector's scheduler after every tick. workerData:
 *   { dbUri, dbName?, tick: ISO string, source, config? }
 * Copies the tick's samples into the hourly blocks and slides every market's window statistics
 * of that source to the tick (src/market/window-stats.ts). Opens its own connection, posts its
 * figures, always ends. A failed pass is logged; the next one catches up from the stored state.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig, type Config } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { initLogger, log } from '../src/logger.js';
import { updateWindowStats, type UpdateStatsResult } from '../src/market/window-stats.js';

export interface UpdateStatsData {
  dbUri: string;
  dbName?: string;
  tick: string;
  source: string;
  config?: Config;
}

export type UpdateStatsMessage =
  | { type: 'update-stats'; ok: true; result: UpdateStatsResult }
  | { type: 'update-stats'; ok: false; tick: string; source: string; error: string };

/** Bree nests custom data under `workerData` beside its own entries; accept either place. */
function readData(raw: unknown): UpdateStatsData {
  const top = (raw ?? {}) as Record<string, unknown>;
  const nested = (top.workerData ?? {}) as Record<string, unknown>;
  const pick = (k: string) => top[k] ?? nested[k];
  const data = {
    dbUri: pick('dbUri') as string | undefined,
    dbName: pick('dbName') as string | undefined,
    tick: pick('tick') as string | undefined,
    source: pick('source') as string | undefined,
    config: pick('config') as Config | undefined,
  };
  if (!data.dbUri || !data.tick || !data.source || Number.isNaN(new Date(data.tick).getTime())) {
    throw new Error(
      `update-stats needs workerData {dbUri, tick, source}; got keys ${Object.keys({ ...top, ...nested }).join(', ')}`,
    );
  }
  return data as UpdateStatsData;
}

async function main(): Promise<number> {
  const data = readData(workerData);
  const config = data.config ?? loadConfig();
  initLogger({ ...config, log: { ...config.log, format: 'json' } });
  const logger = log('update-stats', { job: 'update-stats', tick: data.tick, source: data.source });
  const post = (message: UpdateStatsMessage) => parentPort?.postMessage(message);
  // A pass is keyed and short; on cancel it is left to finish rather than leave half its writes.
  parentPort?.on('message', (message) => {
    if (message === 'cancel') logger.info('cancel received; finishing the current pass');
  });
  try {
    await connectDatabase(data.dbUri, { dbName: data.dbName, syncIndexes: false, attempts: 3 });
    const result = await updateWindowStats({ tick: new Date(data.tick), source: data.source, logger });
    post({ type: 'update-stats', ok: true, result });
    return 0;
  } catch (err) {
    logger.error({ err }, 'window statistics update failed; the next tick catches up');
    post({ type: 'update-stats', ok: false, tick: data.tick, source: data.source, error: (err as Error).message });
    return 1;
  } finally {
    await disconnectDatabase().catch(() => {});
  }
}

const code = await main().catch((err) => {
  log('update-stats').error({ err }, 'update-stats could not start');
  return 1;
});
if (parentPort) parentPort.postMessage('done');
process.exit(code);
