/**
 * Bree job, long-lived: the tick pipelines of the sources in workerData.sources (one hand-written
 * source, or every ccxt exchange), run by src/market/pipeline/serve.ts until cancelled.
 */
import { servePipelines } from '../src/market/pipeline/serve.js';
import { runJob } from '../src/worker.js';

await runJob('collect-markets', servePipelines);
