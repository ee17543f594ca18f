/**
 * The composition root's body: config -> database -> HTTP -> scheduler, and one shutdown() that
 * undoes them in reverse. main.ts wires signals to it; tests start it in-process.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { connectDatabase, disconnectDatabase, safeUri } from './db/connection.js';
import { openDatabase, type DatabaseHandle } from './db/embedded.js';
import { buildServer } from './http/server.js';
import { log } from './logger.js';

export interface AppOptions {
  /** `npm run demo`: simulated source with history, console, spikes. */
  demo?: boolean;
  /** Force the console REPL even when chat credentials are set. */
  console?: boolean;
}

export interface RunningApp {
  readonly config: Config;
  readonly database: DatabaseHandle;
  readonly http: FastifyInstance;
  readonly httpUrl: string;
  shutdown(reason?: string): Promise<void>;
}

export async function startApp(config: Config, _options: AppOptions = {}): Promise<RunningApp> {
  const logger = log('app');
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];

  const database = await openDatabase({
    uri: config.mongo.uri,
    embedded: config.mongo.embedded,
    dataDir: config.mongo.dataDir,
    mongodBinary: config.mongo.mongodBinary,
  });
  stops.push({ name: 'database server', stop: () => database.stop() });
  logger.info(
    { database: database.kind, uri: safeUri(database.uri), storage: database.storage },
    database.kind === 'external'
      ? 'using the MongoDB at MONGODB_URI'
      : `no MONGODB_URI set: started an embedded ${database.kind === 'java' ? 'mongo-java-server' : 'mongod'}`,
  );

  try {
    await connectDatabase(database.uri);
  } catch (err) {
    await database.stop();
    throw err;
  }
  stops.push({ name: 'database connection', stop: () => disconnectDatabase() });

  const http = await buildServer({ logger: log('http') });
  await http.listen({ host: config.http.host, port: config.http.port });
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const httpUrl = `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`;
  stops.push({ name: 'http', stop: () => http.close() });
  logger.info({ url: httpUrl }, 'REST API listening');

  let stopping: Promise<void> | undefined;
  return {
    config,
    database,
    http,
    httpUrl,
    shutdown(reason = 'shutdown') {
      stopping ??= (async () => {
        logger.info({ reason }, 'shutting down');
        for (const { name, stop } of stops.reverse()) {
          try {
            await stop();
          } catch (err) {
            logger.warn({ err, part: name }, 'error while stopping');
          }
        }
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}
