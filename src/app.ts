/**
 * The composition root's body: config -> database -> HTTP + chat adapters -> alert deliverer ->
 * scheduler, and one shutdown() that undoes them in reverse. main.ts wires signals to it; tests
 * start it in-process or through main.ts.
 */
import type { Readable, Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { startChat, type RunningChat } from './chat/index.js';
import { startDeliverer } from './alerts/deliver.js';
import { startWebhooks } from './alerts/webhook.js';
import { connectDatabase, disconnectDatabase, safeUri } from './db/connection.js';
import { openConfiguredDatabase, type DatabaseHandle } from './db/embedded.js';
import { buildServer } from './http/server.js';
import { configureReportCache } from './market/queries.js';
import { log } from './logger.js';
import { setSourceOrder } from './market/catalog.js';
import { replicaId } from './market/lease.js';
import { startScheduler, type Scheduler, type TickEvent } from './scheduler.js';

export interface AppOptions {
  /** Run the console REPL even when chat credentials are set. */
  console?: boolean;
  /** Console streams (tests); default stdin/stdout. */
  input?: Readable;
  output?: Writable;
  /** Console prompt; '' when nobody types at it. */
  prompt?: string;
  /** Skip the collector and its jobs (a replica that only answers commands, and some tests). */
  collect?: boolean;
  /** Replica name for leases and alert claims; default host:pid:random. */
  owner?: string;
  /** The main thread logs to this file (interactive console); job workers follow it. */
  logFile?: string;
  /** A database already opened (src/main.ts opens it before loading the rest); stopped with the app. */
  database?: DatabaseHandle;
}

export interface RunningApp {
  readonly config: Config;
  readonly database: DatabaseHandle;
  readonly http: FastifyInstance;
  readonly httpUrl: string;
  /** The dashboard's address as people reach it: PUBLIC_URL when set, else this server's own. */
  readonly dashboardUrl: string;
  readonly chat: RunningChat;
  readonly scheduler?: Scheduler;
  readonly owner: string;
  shutdown(reason?: string): Promise<void>;
}

export async function startApp(config: Config, options: AppOptions = {}): Promise<RunningApp> {
  const logger = log('app');
  const owner = options.owner ?? replicaId();
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const unwind = async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.warn({ err, part: name }, 'error while stopping');
      }
    }
  };

  const database = options.database ?? (await openConfiguredDatabase(config));
  stops.push({ name: 'database server', stop: () => database.stop() });
  logger.info(
    { database: database.kind, uri: safeUri(database.uri), storage: database.storage },
    database.kind === 'external'
      ? 'using the MongoDB at MONGODB_URI'
      : `no MONGODB_URI set: started an embedded ${database.kind === 'java' ? 'mongo-java-server' : 'mongod'}`,
  );

  try {
    await connectDatabase(database.uri);
    stops.push({ name: 'database connection', stop: () => disconnectDatabase() });

    configureReportCache(config.http.reportCacheBytes);
    setSourceOrder(config.market.sources);
    const http = await buildServer({ config, logger: log('http'), collecting: options.collect !== false });
    stops.push({ name: 'http', stop: () => http.close() });
    const chat = await startChat(config, {
      http,
      console: options.console,
      input: options.input,
      output: options.output,
      prompt: options.prompt,
    });
    stops.push({ name: 'chat', stop: () => chat.stop() });

    await http.listen({ host: config.http.host, port: config.http.port });
    const address = http.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
    const httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const dashboardUrl = `${config.http.publicUrl ?? httpUrl}/`;
    logger.info({ url: httpUrl, dashboard: dashboardUrl, docs: `${httpUrl}/docs` }, 'REST API listening');

    const sinks = Object.keys(config.webhooks).length ? [startWebhooks(config.webhooks)] : [];
    const deliverer = startDeliverer({
      platforms: [...chat.platforms, ...sinks],
      owner,
      quickchartUrl: config.quickchartUrl,
      // A collecting process wakes its deliverer on every tick that wrote alerts (below), and retries
      // wake it at their time, so its poll is only a safety net; one that only serves polls sooner.
      pollMs: options.collect !== false ? 30_000 : 5_000,
    });
    stops.push({ name: 'alert deliverer', stop: () => deliverer.stop() });

    let scheduler: Scheduler | undefined;
    if (options.collect !== false) {
      scheduler = await startScheduler(config, {
        dbUri: database.uri,
        owner,
        logFile: options.logFile,
      });
      // Alerts go out as soon as the tick has put them in the outbox, not at the next poll.
      // The dashboard's viewers get the tick's figures without the poller's wait.
      scheduler.events.on('tick', (event: TickEvent) => {
        if (event.alerts) void deliverer.deliverNow().catch((err) => logger.warn({ err }, 'delivery failed'));
        http.live.poke();
      });
      stops.push({ name: 'scheduler', stop: () => scheduler!.stop() });
    }

    let stopping: Promise<void> | undefined;
    return {
      config,
      database,
      http,
      httpUrl,
      dashboardUrl,
      chat,
      scheduler,
      owner,
      shutdown(reason = 'shutdown') {
        stopping ??= (async () => {
          logger.info({ reason }, 'shutting down');
          await unwind();
          logger.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
