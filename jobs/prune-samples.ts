/** Bree job, hourly: deletes minute samples and tick records older than RETENTION. */
import { log } from '../src/logger.js';
import { pruneSamples } from '../src/market/prune.js';
import { runJob } from '../src/worker.js';

await runJob('prune-samples', async ({ config, post }) => {
  const result = await pruneSamples(config);
  if (result.samples || result.runs || result.frames)
    log('prune').info({ ...result, cutoff: result.cutoff.toISOString() }, 'old samples pruned');
  post({ type: 'prune-result', samples: result.samples, runs: result.runs, frames: result.frames });
});
