/**
 * The API benchmark's server process: the product's server on the benchmark's database, alone in
 * its process so its resident memory is the server's own. Tells the parent its port, and its
 * memory when asked. bench/api.ts runs it compiled by tsc (as production runs dist/src/main.js)
 * and, for comparison, under tsx.
 */
import { loadConfig } from '../src/config.js';
import { connectDatabase } from '../src/db/connection.js';
import { tuneHeap } from '../src/heap.js';
import { buildServer } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';

// As src/main.ts does, so the server is measured with the heap settings production runs with.
tuneHeap();
const uri = process.env.BENCH_MONGODB_URI!;
await connectDatabase(uri, { dbName: process.env.BENCH_DB_NAME, syncIndexes: false });
// The limiter stays on (it is part of every API request's cost), but above what one client can
// send: the largest configurable limit (1,000,000 a minute) is below what the load reaches in a minute.
const config = loadConfig({ LOG_LEVEL: 'warn' });
const app = await buildServer({
  config: { ...config, http: { ...config.http, rateLimitPerMinute: Number.MAX_SAFE_INTEGER } },
  logger: createLogger({ level: 'warn', format: 'json', secrets: [] }),
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.send!({ port: (app.server.address() as { port: number }).port });
process.on('message', (m) => {
  if (m === 'memory') {
    const loaded = process.memoryUsage();
    // After a full collection: what the server keeps, as opposed to garbage not yet collected.
    (globalThis as { gc?: () => void }).gc?.();
    const settled = process.memoryUsage();
    process.send!({
      rss: loaded.rss,
      heapUsed: loaded.heapUsed,
      rssAfterGc: settled.rss,
      heapAfterGc: settled.heapUsed,
    });
  }
  if (m === 'stop') void app.close().then(() => process.exit(0));
});
