/**
 * Retention of alerts and of channels gone a long time (src/db/retention.ts): old settled alerts
 * go, pending ones stay; a channel is forgotten only when all of it is disabled and quiet. And the
 * hourly prune (src/market/prune.ts) of what the samples' RETENTION does not cover: layouts of
 * earlier versions, tick frames and the market lists they name.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { Types } from 'mongoose';
import { loadConfig } from '../src/config.js';
import { frameLists, marketStats, tickFrames } from '../src/db/collections.js';
import { Alert, Channel, SampleBlock, Subscription } from '../src/db/models/index.js';
import {
  ALERT_RETENTION_MS,
  GONE_CHANNEL_RETENTION_MS,
  pruneAlerts,
  pruneGoneChannels,
  pruneRetained,
} from '../src/db/retention.js';
import { ensureList, toFrame, writeFrames } from '../src/market/pipeline/frames.js';
import { VERSION_ID } from '../src/market/pipeline/stats-store.js';
import { pruneSamples } from '../src/market/prune.js';
import { clearDatabase, useTestDatabase } from './support/db.js';

useTestDatabase('retention');

const NOW = new Date('2026-06-01T00:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const DAY = 86_400_000;
let n = 0;

async function alert(channel: string, status: 'pending' | 'sent' | 'failed' | 'skipped', createdAt: Date) {
  n += 1;
  return Alert.create({
    key: `k${n}`,
    subscriptionId: new Types.ObjectId(),
    channel,
    market: 'kraken:btc-usd',
    metric: 'volume',
    ts: createdAt,
    value: 10,
    baseline: 1,
    ratio: 10,
    factor: 3,
    points: 60,
    status,
    createdAt,
  });
}

async function subscription(channel: string, fields: Record<string, unknown>) {
  n += 1;
  return Subscription.create({ channel, market: `kraken:m${n}-usd`, metric: 'volume', factor: 3, ...fields });
}

describe('retention', () => {
  beforeEach(clearDatabase);

  it('deletes sent, failed and skipped alerts past their retention, never pending ones', async () => {
    const old = ago(ALERT_RETENTION_MS + DAY);
    await alert('slack:T:C1', 'sent', old);
    await alert('slack:T:C1', 'failed', old);
    await alert('slack:T:C1', 'skipped', old);
    await alert('slack:T:C1', 'pending', old);
    await alert('slack:T:C1', 'sent', ago(DAY));
    assert.equal(await pruneAlerts(NOW), 3);
    assert.deepEqual((await Alert.find().lean()).map((a) => a.status).sort(), ['pending', 'sent']);
    assert.equal(await pruneAlerts(NOW), 0, 'idempotent');
  });

  it('forgets a channel gone and quiet past its retention, and keeps every other', async () => {
    const old = ago(GONE_CHANNEL_RETENTION_MS + DAY);
    // Gone long ago: both subscriptions disabled, nothing since.
    await subscription('discord:G:gone', { disabled: true, createdAt: old, lastAlertAt: old });
    await subscription('discord:G:gone', { disabled: true, createdAt: old });
    await Channel.create({ _id: 'discord:G:gone', updatedAt: old });
    // Gone recently: kept for now.
    await subscription('discord:G:recent', { disabled: true, createdAt: old, lastAlertAt: ago(DAY) });
    // One subscription still live: kept.
    await subscription('discord:G:mixed', { disabled: true, createdAt: old });
    await subscription('discord:G:mixed', { disabled: false, createdAt: old });
    // Disabled and old, but its settings changed recently: kept.
    await subscription('discord:G:touched', { disabled: true, createdAt: old });
    await Channel.create({ _id: 'discord:G:touched', updatedAt: ago(DAY) });

    assert.deepEqual(await pruneGoneChannels(NOW), { channels: 1, subscriptions: 2 });
    assert.deepEqual(((await Subscription.distinct('channel')) as string[]).sort(), [
      'discord:G:mixed',
      'discord:G:recent',
      'discord:G:touched',
    ]);
    assert.equal(await Channel.exists({ _id: 'discord:G:gone' }), null);
    assert.ok(await Channel.exists({ _id: 'discord:G:touched' }));
  });

  it('pruneRetained runs both', async () => {
    await alert('slack:T:C1', 'sent', ago(ALERT_RETENTION_MS + DAY));
    await subscription('slack:T:gone', { disabled: true, createdAt: ago(GONE_CHANNEL_RETENTION_MS + DAY) });
    assert.deepEqual(await pruneRetained(NOW), { alerts: 1, channels: 1, subscriptions: 1 });
  });
});

describe('the hourly prune', () => {
  beforeEach(clearDatabase);
  const config = loadConfig({ MARKET_SOURCE: 'kraken', RETENTION: '1d', LOG_LEVEL: 'silent' });
  const now = new Date();
  const before = (ms: number) => new Date(now.getTime() - ms);
  const HOUR = 3_600_000;

  it('deletes every sample_blocks document and the per-market statistics of earlier versions', async () => {
    await SampleBlock.create([
      { _id: 'kraken:btc-usd|1', market: 'kraken:btc-usd', source: 'kraken', hour: before(HOUR) },
      { _id: 'kraken:btc-usd|2', market: 'kraken:btc-usd', source: 'kraken', hour: before(30 * DAY) },
    ]);
    // A per-market document of the layout before column documents: no `kind`.
    await marketStats().updateOne({ _id: 'kraken:btc-usd|24h' }, { $set: { source: 'kraken' } }, { upsert: true });
    await marketStats().updateOne({ _id: VERSION_ID }, { $set: { at: now } }, { upsert: true });
    await marketStats().updateOne(
      { _id: 'kraken|index' },
      { $set: { kind: 'index', source: 'kraken' } },
      { upsert: true },
    );
    await pruneSamples(config, now);
    assert.equal(await SampleBlock.countDocuments(), 0);
    assert.deepEqual(
      (
        await marketStats()
          .find({}, { projection: { _id: 1 } })
          .toArray()
      )
        .map((d) => d._id)
        .sort(),
      ['kraken|index', VERSION_ID],
    );
  });

  it('keeps tick frames for the longest window past a shorter RETENTION, and the market lists still named', async () => {
    const frame = (ago: number, markets: string[]) =>
      toFrame(
        now.getTime() - ago,
        markets.map((market) => ({ market, last: 1 })),
      );
    await writeFrames('kraken', [
      frame(8 * DAY, ['kraken:old-usd']),
      frame(7 * DAY, ['kraken:btc-usd']),
      frame(HOUR, ['kraken:btc-usd', 'kraken:eth-usd']),
    ]);
    // A list the window statistics still name, and one nothing names: both last used long ago.
    const stats = await ensureList(['kraken:stats-usd']);
    await marketStats().updateOne({ _id: 'kraken|index' }, { $set: { kind: 'index', list: stats } }, { upsert: true });
    const orphan = await ensureList(['kraken:orphan-usd']);
    await frameLists().updateMany({}, { $set: { usedAt: before(30 * DAY), createdAt: before(30 * DAY) } });
    // Just stored by a writer, before its first frame: kept.
    const fresh = await ensureList(['kraken:new-usd']);

    const result = await pruneSamples(config, now);
    // RETENTION is a day, but the longest window is 7 days: frames are kept 7 days and an hour.
    assert.equal(result.frames, 1);
    assert.deepEqual(
      (await tickFrames().find().sort({ tick: 1 }).toArray()).map((f) => f.tick.getTime()),
      [now.getTime() - 7 * DAY, now.getTime() - HOUR],
    );
    // The 8-day-old frame's list and the orphan go; the lists of kept frames and of the statistics stay.
    assert.equal(result.lists, 2);
    const kept = new Set((await frameLists().find().toArray()).map((l) => l._id));
    assert.equal(kept.size, 4);
    assert.ok(kept.has(stats) && kept.has(fresh) && !kept.has(orphan));
    assert.equal((await pruneSamples(config, now)).lists, 0, 'idempotent');
  });

  it('also applies the retention of alerts and gone channels', async () => {
    await alert('slack:T:C1', 'sent', before(ALERT_RETENTION_MS + DAY));
    await alert('slack:T:C1', 'pending', before(ALERT_RETENTION_MS + DAY));
    await subscription('slack:T:gone', { disabled: true, createdAt: before(GONE_CHANNEL_RETENTION_MS + DAY) });
    const result = await pruneSamples(config, now);
    assert.deepEqual({ alerts: result.alerts, channels: result.channels }, { alerts: 1, channels: 1 });
    assert.deepEqual(
      (await Alert.find().lean()).map((a) => a.status),
      ['pending'],
    );
  });
});
