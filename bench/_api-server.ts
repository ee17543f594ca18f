/**
 * The API benchmark's server process: the product's server on the benchmark's database, alone in
 * its process so its resident memory is the server's own. Tells the parent its port, and its
 * memory when asked.
 */
import { loadConfig } from '../src/config.js';
import { connectDatabase } from '../src/db/connection.js';
import { buildServer } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';

const uri = process.env.BENCH_MONGODB_URI!;
await connectDatabase(uri, { dbName: process.env.BENCH_DB_NAME, syncIndexes: false });
const app = await buildServer({
  config: loadConfig({ RATE_LIMIT_PER_MINUTE: '1000000', LOG_LEVEL: 'warn' }),
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
    process.send!({ rss: loaded.rss, heapUsed: loaded.heapUsed, rssAfterGc: settled.rss, heapAfterGc: settled.heapUsed });
  }
  if (m === 'stop') void app.close().then(() => process.exit(0));
});
