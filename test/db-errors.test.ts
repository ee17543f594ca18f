/**
 * src/db/errors.ts against the real wire-protocol server: duplicate keys are counted, every other
 * write error is thrown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mongoose from 'mongoose';
import { bulkWriteKeyed, duplicatesOf, insertManyKeyed, isDuplicateKey } from '../src/db/errors.js';
import { Lease } from '../src/db/models/index.js';
import { useTestDatabase } from './support/db.js';

useTestDatabase('db_errors');

interface Row {
  _id: string;
  n: number;
}
const rows = () => mongoose.connection.db!.collection<Row>('keyed_rows');

describe('duplicate keys', () => {
  it('insertManyKeyed writes the new rows and counts the taken keys', async () => {
    await rows().insertOne({ _id: 'b', n: 0 });
    const result = await insertManyKeyed(rows(), [
      { _id: 'a', n: 1 },
      { _id: 'b', n: 2 },
      { _id: 'c', n: 3 },
    ]);
    assert.deepEqual(result, { inserted: 2, duplicates: 1, duplicateIndexes: [1] });
    assert.deepEqual(
      (await rows().find().sort({ _id: 1 }).toArray()).map((r) => [r._id, r.n]),
      [
        ['a', 1],
        ['b', 0],
        ['c', 3],
      ],
    );
    assert.deepEqual(await insertManyKeyed(rows(), []), { inserted: 0, duplicates: 0, duplicateIndexes: [] });
  });

  it('given its keys, insertManyKeyed counts their refusals and throws a refusal by another unique index', async () => {
    const c = mongoose.connection.db!.collection<Row>('keyed_by_n');
    await c.createIndex({ n: 1 }, { unique: true });
    await c.insertOne({ _id: 'x', n: 1 });
    assert.deepEqual(await insertManyKeyed(c, [{ _id: 'x', n: 2 }], ['_id_']), {
      inserted: 0,
      duplicates: 1,
      duplicateIndexes: [0],
    });
    await assert.rejects(
      insertManyKeyed(c, [{ _id: 'y', n: 1 }], ['_id_']),
      (err: unknown) => err instanceof mongoose.mongo.MongoBulkWriteError && /n_1/.test(err.message),
    );
    // Without keys, any taken key is a duplicate.
    assert.equal((await insertManyKeyed(c, [{ _id: 'y', n: 1 }])).duplicates, 1);
  });

  it('bulkWriteKeyed counts duplicates and throws any other write error', async () => {
    const dup = await bulkWriteKeyed(rows(), [{ insertOne: { document: { _id: 'a', n: 9 } } }]);
    assert.deepEqual(dup, { duplicates: 1, duplicateIndexes: [0] });
    // A row whose n is text, written through a handle typed for it: $inc on it fails on the server.
    await mongoose.connection
      .db!.collection<{ _id: string; n: string }>('keyed_rows')
      .insertOne({ _id: 'text', n: 'x' });
    await assert.rejects(
      bulkWriteKeyed(rows(), [
        { insertOne: { document: { _id: 'a', n: 9 } } },
        { updateOne: { filter: { _id: 'text' }, update: { $inc: { n: 1 } } } },
      ]),
      (err: unknown) => err instanceof mongoose.mongo.MongoBulkWriteError,
    );
  });

  it('isDuplicateKey tells a taken key from other errors', async () => {
    await Lease.create({ _id: 'dup-test', owner: 'a', until: new Date() });
    const taken = await Lease.create({ _id: 'dup-test', owner: 'b', until: new Date() }).catch((e: unknown) => e);
    assert.equal(isDuplicateKey(taken), true);
    assert.equal(isDuplicateKey(new Error('E11000 in a message only')), false);
    assert.throws(() => duplicatesOf(new Error('not a bulk write')), /not a bulk write/);
  });
});
