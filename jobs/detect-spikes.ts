/**
 * Bree job run by the scheduler right after each collector tick, with workerData
 * { dbUri, dbName?, tick: ISO string, source }. The work is src/market/detect.ts: it judges the
 * points that arrived since each pair's last completed run, so a failed or skipped run is caught up
 * by the next one. The shared worker harness (src/worker.ts) opens the connection, turns `cancel`
 * into a signal and always ends the worker.
 */
import { log } from '../src/logger.js';
import { detectSpikes, type DetectResult } from '../src/market/detect.js';
import { runJob } from '../src/worker.js';

/** What the job posts to the scheduler; `alertsByPlatform` feeds alertsTotal{stage="detected"}. */
export interface DetectSpikesMessage {
  type: 'detect-result';
  tick: string;
  source?: string;
  result?: DetectResult;
  cancelled?: boolean;
}

await runJob('detect-spikes', async ({ config, data, signal, post }) => {
  if (!data.tick || Number.isNaN(new Date(data.tick).getTime()))
    throw new Error(`detect-spikes needs workerData.tick (ISO time), got ${String(data.tick)}`);
  const source = typeof data.source === 'string' ? data.source : undefined;
  if (signal.aborted) {
    post({ type: 'detect-result', tick: data.tick, source, cancelled: true } satisfies DetectSpikesMessage);
    return;
  }
  // Once started, a pass is short and its writes are keyed; finishing it beats leaving half of it.
  const result = await detectSpikes({
    tick: new Date(data.tick),
    source,
    minPoints: config.alerts.minPoints,
    defaultFactor: config.alerts.factor,
    logger: log('detect', { job: 'detect-spikes', tick: data.tick, source }),
  });
  post({ type: 'detect-result', tick: data.tick, source, result } satisfies DetectSpikesMessage);
});
