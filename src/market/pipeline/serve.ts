/**
 * A collect worker's side of the scheduler (jobs/collect-markets.ts): one Pipeline per source the
 * worker serves (workerData.sources), each tick the scheduler sends run by its source's pipeline.
 * A hand-written source has a worker of its own; every ccxt exchange shares one worker, so ccxt and
 * its exchange classes are loaded once per process, not once per exchange (docs/collector.md,
 * "Costs of ccxt"). Each pipeline still takes its own lease: a source another replica holds stands
 * by alone, and a source that fails or hangs holds up no other (the worker runs one queue per source).
 */
import type { SourceName } from '../../config.js';
import type { JobContext } from '../../worker.js';
import { blankTickResult } from '../collect/index.js';
import { Pipeline } from './pipeline.js';

export async function servePipelines({ config, data, signal, post, onMessage, untilCancelled }: JobContext) {
  const names = (Array.isArray(data.sources) ? data.sources : [data.source]).filter(
    (s): s is SourceName => typeof s === 'string',
  );
  const pipelines = new Map(names.map((s) => [s, new Pipeline(config, s, { owner: data.owner ?? 'local' })]));
  onMessage(async (message) => {
    if (message.type !== 'tick' || signal.aborted) return;
    const { source, tick } = message;
    const pipeline = pipelines.get(source);
    try {
      if (!pipeline) throw new Error(`this worker serves ${names.join(', ')}, not ${source}`);
      const { result, ...figures } = await pipeline.tick(new Date(tick), { signal }, (collected) =>
        post({ type: 'tick-collected', source, tick, result: { ...collected, tick: collected.tick.toISOString() } }),
      );
      post({
        type: 'tick-result',
        source,
        tick,
        result: { ...result, tick: result.tick.toISOString() },
        pipeline: { ...figures, memoryBytes: pipeline.memoryBytes, heapBytes: process.memoryUsage().heapUsed },
      });
    } catch (err) {
      // The scheduler waits for every tick's result: a tick that threw still answers, as failed.
      const result = { ...blankTickResult(source, new Date(tick)), errorKind: 'internal' as const };
      post({ type: 'tick-result', source, tick, result: { ...result, tick, error: (err as Error).message } });
    }
  });
  await untilCancelled();
}
