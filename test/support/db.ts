/**
 * Each test file gets its own database on the run's server (TEST_MONGODB_URI, started by
 * run-tests.ts), dropped when the file is done.
 */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import mongoose from 'mongoose';
import { connectDatabase } from '../../src/db/connection.js';

export function testDatabaseUri(): string {
  const uri = process.env.TEST_MONGODB_URI ?? process.env.MONGODB_URI;
  if (!uri) throw new Error('No test database: run the tests through `npm test` (test/support/run-tests.ts)');
  return uri;
}

export function uniqueDbName(label = 't'): string {
  return `${label.replace(/[^a-z0-9]/gi, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
}

/** Registers before/after hooks that connect mongoose to a fresh database and drop it afterwards. */
export function useTestDatabase(label?: string): { uri: string; dbName: string } {
  const handle = { uri: testDatabaseUri(), dbName: uniqueDbName(label) };
  before(async () => {
    await connectDatabase(handle.uri, { dbName: handle.dbName, attempts: 3 });
  });
  after(async () => {
    if (mongoose.connection.readyState === 1) await mongoose.connection.dropDatabase().catch(() => {});
    await mongoose.disconnect();
  });
  return handle;
}

/** Empties every collection (between tests that want a clean slate). */
export async function clearDatabase(): Promise<void> {
  const db = mongoose.connection.db;
  if (!db) return;
  for (const c of await db.collections()) await c.deleteMany({});
}
