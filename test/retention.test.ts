/**
 * Retention of alerts and of channels gone a long time (src/db/retention.ts): old sent and failed
 * alerts go, pending ones stay; a channel is forgotten only when all of it is disabled and quiet.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { Types } from 'mongoose';
import { Alert, Channel, Subscription } from '../src/db/models/index.js';
import {
  ALERT_RETENTION_MS,
  GONE_CHANNEL_RETENTION_MS,
  pruneAlerts,
  pruneGoneChannels,
  pruneRetained,
} from '../src/db/retention.js';
import { clearDatabase, useTestDatabase } from './support/db.js';

useTestDatabase('retention');

const NOW = new Date('2026-06-01T00:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const DAY = 86_400_000;
let n = 0;

async function alert(channel: string, status: 'pending' | 'sent' | 'failed', createdAt: Date) {
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

  it('deletes sent and failed alerts past their retention, never pending ones', async () => {
    const old = ago(ALERT_RETENTION_MS + DAY);
    await alert('slack:T:C1', 'sent', old);
    await alert('slack:T:C1', 'failed', old);
    await alert('slack:T:C1', 'pending', old);
    await alert('slack:T:C1', 'sent', ago(DAY));
    assert.equal(await pruneAlerts(NOW), 2);
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
