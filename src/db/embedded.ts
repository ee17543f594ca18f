/**
 * Chooses the database when none is configured. The one place that decides, in this order:
 *   1. MONGODB_URI, when set: used as it is.
 *   2. a real mongod through mongodb-memory-server, when a binary is at hand
 *      (MONGOMS_SYSTEM_BINARY, or MONGO_EMBEDDED=mongod, which also lets it download one);
 *   3. mongo-java-server (Java 17 + jars from Maven Central), persistent through its H2 backend.
 * MONGO_EMBEDDED=java|mongod forces a choice. The caller logs the result.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startJavaServer } from './java-server.js';

export type DatabaseKind = 'external' | 'mongod' | 'java';

export interface DatabaseHandle {
  readonly uri: string;
  readonly kind: DatabaseKind;
  /** Where the embedded data lives, or 'memory'. */
  readonly storage: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  uri?: string;
  embedded: 'auto' | 'mongod' | 'java';
  /** Directory for persistent data; omitted, the server keeps everything in memory. */
  dataDir?: string;
  /** MONGOMS_SYSTEM_BINARY, passed in by the caller (config is the only env reader). */
  mongodBinary?: string;
}

export async function openDatabase(options: EmbeddedOptions): Promise<DatabaseHandle> {
  if (options.uri) return { uri: options.uri, kind: 'external', storage: 'external', stop: async () => {} };
  const wantMongod = options.embedded === 'mongod' || (options.embedded === 'auto' && Boolean(options.mongodBinary));
  if (wantMongod) return startMongod(options);
  const h2File = options.dataDir ? join(resolve(options.dataDir), 'embedded-mongo.mv') : undefined;
  const server = await startJavaServer({ h2File });
  return { uri: server.uri, kind: 'java', storage: h2File ?? 'memory', stop: () => server.stop() };
}

async function startMongod(options: EmbeddedOptions): Promise<DatabaseHandle> {
  const { MongoMemoryServer } = await import('mongodb-memory-server-core');
  const dbPath = options.dataDir ? join(resolve(options.dataDir), 'mongod') : undefined;
  if (dbPath) mkdirSync(dbPath, { recursive: true });
  const server = await MongoMemoryServer.create({
    binary: options.mongodBinary ? { systemBinary: options.mongodBinary } : {},
    instance: dbPath ? { dbPath, storageEngine: 'wiredTiger' } : {},
  });
  return {
    uri: server.getUri(),
    kind: 'mongod',
    storage: dbPath ?? 'memory',
    stop: async () => {
      await server.stop({ doCleanup: !dbPath, force: false });
    },
  };
}
