import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mongoose from 'mongoose';
import { Sample, Subscription, Alert } from '../src/db/models/index.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { useTestDatabase } from './support/db.js';
import { minuteOf2026, sampleAt } from './support/samples.js';

useTestDatabase('db');

const minute = minuteOf2026;
const sample = (market: string, n: number, last = 100): SampleInput =>
  sampleAt(market, minute(n), {
    last,
    high: last + 1,
    low: last - 1,
    changePct: 1.5,
    quoteVolume24h: 100_000,
    volumeMinute: 2,
  });

describe('mongoose against the real wire-protocol server', () => {
  it('creates the unique {market, ts} index', async () => {
    const indexes = await Sample.collection.indexes();
    const unique = indexes.find((i) => JSON.stringify(i.key) === JSON.stringify({ market: 1, ts: 1 }));
    assert.ok(unique, `indexes: ${JSON.stringify(indexes)}`);
    assert.equal(unique.unique, true);
  });

  it('checks its connection pools every 30 s, not every 100 ms: the idle bot is woken that much less', () => {
    // Internals of the driver: if its shape changes, this fails and says the slowdown no longer applies.
    const servers = (
      mongoose.connection.getClient() as unknown as {
        topology: { s: { servers: Map<string, { pool: { options: Record<string, unknown> } }> } };
      }
    ).topology.s.servers;
    assert.ok(servers.size > 0);
    for (const server of servers.values()) assert.equal(server.pool.options.minPoolSizeCheckFrequencyMS, 30_000);
  });

  it('inserts and reads samples back in range order', async () => {
    const result = await saveSamples([
      sample('sim:a-usd', 1, 10),
      sample('sim:a-usd', 2, 11),
      sample('sim:a-usd', 3, 12),
    ]);
    assert.deepEqual(result, { inserted: 3, duplicates: 0 });
    const found = await Sample.find({ market: 'sim:a-usd', ts: { $gte: minute(2) } })
      .sort({ ts: 1 })
      .lean();
    assert.deepEqual(
      found.map((s) => s.last),
      [11, 12],
    );
    assert.ok(found[0]!.ts instanceof Date);
  });

  it('keeps one document when the same sample is saved twice, and reports no error', async () => {
    const first = await saveSamples([sample('sim:b-usd', 1)]);
    const second = await saveSamples([sample('sim:b-usd', 1)]);
    assert.deepEqual(first, { inserted: 1, duplicates: 0 });
    assert.deepEqual(second, { inserted: 0, duplicates: 1 });
    assert.equal(await Sample.countDocuments({ market: 'sim:b-usd' }), 1);
  });

  it('inserts the new rows of a batch that repeats some old ones', async () => {
    await saveSamples([sample('sim:c-usd', 1), sample('sim:c-usd', 2)]);
    const result = await saveSamples([sample('sim:c-usd', 2), sample('sim:c-usd', 3), sample('sim:c-usd', 1)]);
    assert.deepEqual(result, { inserted: 1, duplicates: 2 });
    assert.equal(await Sample.countDocuments({ market: 'sim:c-usd' }), 3);
  });

  it('rejects a non-finite price through the model validator', async () => {
    await assert.rejects(Sample.create({ ...sample('sim:d-usd', 1), last: Number.NaN }), /last/);
    await assert.rejects(Sample.create({ ...sample('sim:d-usd', 1), high: Infinity }), /finite/);
  });

  it('enforces unique subscriptions and alert keys', async () => {
    const sub = await Subscription.create({ channel: 'console:local', market: 'sim:a-usd' });
    await assert.rejects(Subscription.create({ channel: 'console:local', market: 'sim:a-usd' }), { code: 11000 });
    const alert = {
      key: `${sub._id}:sim:a-usd:volume:1`,
      subscriptionId: sub._id,
      channel: 'console:local',
      market: 'sim:a-usd',
      metric: 'volume',
      ts: minute(1),
      value: 10,
      baseline: 2,
      ratio: 5,
      factor: 3,
      points: 60,
    };
    await Alert.create(alert);
    await assert.rejects(Alert.create(alert), { code: 11000 });
    assert.equal(await Alert.countDocuments({}), 1);
  });

  it('groups with $avg/$min/$max on the server', async () => {
    const [row] = await Sample.aggregate<{ avg: number; min: number; max: number; n: number }>([
      { $match: { market: 'sim:a-usd' } },
      {
        $group: {
          _id: '$market',
          avg: { $avg: '$last' },
          min: { $min: '$last' },
          max: { $max: '$last' },
          n: { $sum: 1 },
        },
      },
    ]);
    assert.deepEqual({ avg: row!.avg, min: row!.min, max: row!.max, n: row!.n }, { avg: 11, min: 10, max: 12, n: 3 });
    assert.equal(mongoose.connection.readyState, 1);
  });
});
