/**
 * Bree job, long-lived: the tick pipeline of one source (workerData.source). It starts once, keeps
 * its state in memory between ticks (src/market/pipeline/), runs each tick the scheduler sends,
 * posts the tick's figures, and ends on cancel after the tick in hand.
 */
import type { SourceName } from '../src/config.js';
import { Pipeline } from '../src/market/pipeline/pipeline.js';
import { runJob } from '../src/worker.js';

await runJob('collect-markets', async ({ config, data, signal, post, onMessage, untilCancelled }) => {
  const pipeline = new Pipeline(config, data.source as SourceName, { owner: data.owner ?? 'local' });
  onMessage(async (message) => {
    if (message.type !== 'tick' || signal.aborted) return;
    const { result, ...figures } = await pipeline.tick(new Date(message.tick), { signal }, (collected) =>
      post({
        type: 'tick-collected',
        tick: message.tick,
        result: { ...collected, tick: collected.tick.toISOString() },
      }),
    );
    post({
      type: 'tick-result',
      tick: message.tick,
      result: { ...result, tick: result.tick.toISOString() },
      pipeline: { ...figures, memoryBytes: pipeline.memoryBytes, heapBytes: process.memoryUsage().heapUsed },
    });
  });
  await untilCancelled();
});
