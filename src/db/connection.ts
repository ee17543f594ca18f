/**
 * The mongoose connection lifecycle: connect with retry and a clear error, create the indexes the
 * models declare, disconnect on shutdown. Every process (main thread and each Bree worker) calls
 * connectDatabase once; mongoose's default connection is the one all models use.
 */
import mongoose from 'mongoose';
import { log } from '../logger.js';
import * as models from './models/index.js';

export interface ConnectOptions {
  /** Attempts before giving up (default 5); the wait doubles from 500 ms between them. */
  attempts?: number;
  /** Database name when the URI names none. */
  dbName?: string;
  /** Create indexes (default true; workers skip it, the main thread has done it). */
  syncIndexes?: boolean;
  serverSelectionTimeoutMS?: number;
}

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/** Hides a password in a URI for messages. */
export function safeUri(uri: string): string {
  return uri.replace(/(\/\/[^/:@]+):[^@/]+@/, '$1:***@');
}

export async function connectDatabase(uri: string, options: ConnectOptions = {}): Promise<typeof mongoose> {
  const logger = log('db');
  const attempts = options.attempts ?? 5;
  let wait = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      await mongoose.connect(uri, {
        dbName: options.dbName,
        serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5_000,
        // The driver also checks a server at once when an operation fails, so a slower routine
        // check costs no failover time that matters here; each check is a round trip per connection.
        heartbeatFrequencyMS: 30_000,
        autoIndex: false,
      });
      break;
    } catch (err) {
      const message = (err as Error).message;
      if (attempt >= attempts) {
        throw new DatabaseUnavailableError(
          `Cannot reach MongoDB at ${safeUri(uri)} after ${attempts} attempts: ${message}. ` +
            'Check MONGODB_URI, or leave it unset to use the embedded database.',
        );
      }
      logger.warn({ attempt, attempts, retryInMs: wait, err: message }, 'database not reachable yet, retrying');
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 10_000);
    }
  }
  slowPoolMaintenance(mongoose.connection.getClient());
  if (options.syncIndexes !== false) await createIndexes();
  return mongoose;
}

/** How often a connection pool looks for idle or stale connections (the driver's default is 100 ms). */
const POOL_CHECK_MS = 30_000;

type PoolHolder = { pool?: { options?: Record<string, unknown> } };

/**
 * The driver wakes every connection pool every 100 ms to keep `minPoolSize` connections open, even
 * with a minimum of zero, and does not let the interval be configured. Measured on an idle process:
 * 0.37 s of CPU a minute per connection with it, 0.15 s with 30 s, which at the default 1-minute
 * interval is most of what the bot spends per tick. A broken or stale connection is still found when
 * it is checked out. When the driver's shape changes, this does nothing (and costs only the CPU).
 */
function slowPoolMaintenance(client: mongoose.mongo.MongoClient): void {
  const apply = () => {
    const servers = (client as unknown as { topology?: { s?: { servers?: Map<string, PoolHolder> } } }).topology?.s
      ?.servers;
    for (const server of servers?.values() ?? []) {
      const pool = server.pool;
      if (!pool?.options || pool.options.minPoolSizeCheckFrequencyMS === POOL_CHECK_MS) continue;
      pool.options = Object.freeze({ ...pool.options, minPoolSizeCheckFrequencyMS: POOL_CHECK_MS });
    }
  };
  apply();
  // Servers found later (a replica set's members, a failover) get their pool then.
  client.on('serverOpening', () => queueMicrotask(apply));
}

/** Creates every declared index. Never drops one (syncIndexes would), so operators' extra indexes stay. */
export async function createIndexes(): Promise<void> {
  // mongoose creates each model's collection in the background once connected (autoCreate); an index
  // built on the same collection at the same moment made mongo-java-server's H2 backend refuse a start
  // ("Document with key '<db>.alerts' already existed"). Each model's init() is that creation.
  for (const model of Object.values(models)) {
    if (typeof model === 'function' && 'init' in model) await model.init();
  }
  await dropReplacedIndexes();
  for (const model of Object.values(models)) {
    if (typeof model === 'function' && 'createIndexes' in model) await model.createIndexes();
  }
}

/**
 * Drops the indexes a newer schema replaced, by name: the unique (channel, market, metric) of
 * subscriptions would refuse a level and a move on one market's price in one channel.
 */
async function dropReplacedIndexes(): Promise<void> {
  const collection = models.Subscription.collection;
  const names = await collection
    .indexes()
    .then((list) => list.map((i) => i.name))
    .catch(() => [] as (string | undefined)[]);
  for (const name of models.REPLACED_SUBSCRIPTION_INDEXES) {
    if (names.includes(name)) await collection.dropIndex(name);
  }
}

export async function disconnectDatabase(): Promise<void> {
  await mongoose.disconnect();
}

export async function pingDatabase(): Promise<boolean> {
  try {
    const db = mongoose.connection.db;
    if (!db || mongoose.connection.readyState !== 1) return false;
    await db.admin().command({ ping: 1 });
    return true;
  } catch {
    return false;
  }
}
