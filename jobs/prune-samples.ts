/**
 * Bree job, hourly: deletes minute samples and tick records older than RETENTION, old tick frames
 * and the market lists nothing names any more, settled alerts and long-gone channels
 * (src/db/retention.ts).
 */
import { log } from '../src/logger.js';
import { pruneSamples } from '../src/market/prune.js';
import { runJob } from '../src/worker.js';

await runJob('prune-samples', async ({ config, post }) => {
  const result = await pruneSamples(config);
  if (result.samples || result.runs || result.frames || result.lists || result.alerts || result.channels)
    log('prune').info({ ...result, cutoff: result.cutoff.toISOString() }, 'old samples and records pruned');
  post({
    type: 'prune-result',
    samples: result.samples,
    runs: result.runs,
    frames: result.frames,
    alerts: result.alerts,
    channels: result.channels,
    subscriptions: result.subscriptions,
  });
});
