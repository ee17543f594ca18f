/**
 * Bree job: one collector tick for one source (workerData.source). The work is
 * src/market/collect.ts; the result goes to the scheduler, which relays it to the metrics, runs the
 * after-tick jobs and emits the 'tick' event.
 */
import type { SourceName } from '../src/config.js';
import { alignTick, collectTick } from '../src/market/collect.js';
import { runJob } from '../src/worker.js';

await runJob('collect-markets', async ({ config, data, signal, post }) => {
  const source = data.source as SourceName;
  const tick = data.tick ? new Date(data.tick) : alignTick(Date.now(), config.market.intervalMs);
  const result = await collectTick(config, source, { tick, owner: data.owner, signal });
  post({ type: 'tick-result', result: { ...result, tick: result.tick.toISOString() } });
});
