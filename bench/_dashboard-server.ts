/**
 * The dashboard benchmark's server process: the product's HTTP server (dashboard, stream, API) on
 * the benchmark's database, alone in its process so its CPU time and resident memory are its own.
 * bench/dashboard.ts runs it compiled by tsc, as production runs dist/src/main.js. Tells the
 * parent its port, and its CPU time, memory and stream counters when asked.
 */
import { loadConfig } from '../src/config.js';
import { connectDatabase } from '../src/db/connection.js';
import { buildServer } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';

await connectDatabase(process.env.BENCH_MONGODB_URI!, { dbName: process.env.BENCH_DB_NAME, syncIndexes: false });
const config = loadConfig({ LOG_LEVEL: 'warn', MARKET_SOURCE: 'simulated' });
const app = await buildServer({
  config: { ...config, http: { ...config.http, rateLimitPerMinute: Number.MAX_SAFE_INTEGER } },
  logger: createLogger({ level: 'warn', format: 'json', secrets: [] }),
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.send!({ port: (app.server.address() as { port: number }).port });
process.on('message', (m) => {
  if (m === 'usage' || m === 'settled') {
    // 'settled': after a full collection, what the server keeps rather than garbage not yet collected.
    if (m === 'settled') (globalThis as { gc?: () => void }).gc?.();
    const cpu = process.cpuUsage();
    process.send!({
      cpuMs: (cpu.user + cpu.system) / 1000,
      rss: process.memoryUsage().rss,
      viewers: app.live.viewerCount,
      pushed: app.live.pushed,
      dropped: app.live.dropped,
      lastPush: app.live.lastPush,
    });
  }
  if (m === 'stop') void app.close().then(() => process.exit(0));
});
