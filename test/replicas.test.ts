/**
 * Scaling out: two real app processes against one database. Only one collects a tick, alerts in the
 * outbox are posted once between them, and the standby takes collection over within two ticks when
 * the collecting replica is killed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { Alert, CollectorRun, Sample, Subscription } from '../src/db/models/index.js';
import { startAppProcess, type AppProcess } from './support/app-process.js';
import { useTestDatabase } from './support/db.js';
import { until } from './support/wait.js';

const INTERVAL = 5_000;
const MARKETS = 3;

describe('two replicas against one database', () => {
  const db = useTestDatabase('replicas');
  const apps: AppProcess[] = [];
  const env = () => ({
    MONGODB_URI: `${db.uri}/${db.dbName}`,
    HTTP_PORT: '0',
    MARKET_SOURCE: 'simulated',
    SIMULATED_MARKETS: String(MARKETS),
    SIMULATED_SPIKE_EVERY: '0',
    COLLECT_INTERVAL: `${INTERVAL / 1000}s`,
    BACKFILL_MAX: '1m',
    LOG_LEVEL: 'info',
  });
  const ownerOf = (app: AppProcess) => `:${app.child.pid}:`;

  before(async () => {
    apps.push(startAppProcess(env()));
    await apps[0]!.waitFor((l) => l.msg === 'collecting from simulated', 60_000, 'first replica collecting');
    apps.push(startAppProcess(env()));
    await apps[1]!.waitFor((l) => l.msg === 'scheduler started', 60_000, 'second replica started');
  });
  after(async () => {
    for (const app of apps) await app.stop('SIGTERM');
  });

  it('posts each outbox alert once between them', async () => {
    const sub = await Subscription.create({ channel: 'console:local', market: 'sim:btc-usd', metric: 'volume' });
    const ts = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const alerts = Array.from({ length: 6 }, (_, i) => ({
      key: `race-${i}`,
      subscriptionId: sub._id,
      channel: 'console:local',
      market: 'sim:btc-usd',
      metric: 'volume',
      ts: new Date(ts.getTime() - i * 60_000),
      value: 100 + i,
      baseline: 10,
      ratio: 10 + i / 10,
      factor: 3,
      points: 60,
      // One detection run each: alerts sharing a createdAt are one tick's, and go out as one digest.
      createdAt: new Date(ts.getTime() - i * 60_000),
    }));
    await Alert.insertMany(alerts);
    await until(
      'every alert sent',
      async () => (await Alert.countDocuments({ status: 'sent' })) === alerts.length,
      30_000,
    );
    const posted = (app: AppProcess) =>
      app.lines.filter((l) => l.level === 'raw' && /^# Spike: sim:btc-usd/.test(String(l.msg).replace(/^> /, '')))
        .length;
    await until('the posts on the consoles', async () => posted(apps[0]!) + posted(apps[1]!) >= alerts.length, 10_000);
    assert.equal(posted(apps[0]!) + posted(apps[1]!), alerts.length, 'no alert posted twice');
    const refs = (await Alert.find({}, { messageRef: 1 }).lean()).map((a) => a.messageRef);
    assert.ok(refs.every(Boolean));
  });

  it('collects each tick once, and the standby takes over within two ticks when the collector dies', async () => {
    const [first, second] = [apps[0]!, apps[1]!];
    await until(
      'a few ticks',
      async () => (await CollectorRun.countDocuments({ status: 'ok', owner: new RegExp(ownerOf(first)) })) >= 2,
      30_000,
    );
    const beforeKill = await CollectorRun.find({ status: { $in: ['ok', 'partial'] } }).lean();
    assert.ok(
      beforeKill.every((r) => r.owner?.includes(ownerOf(first))),
      'only the lease holder collected',
    );
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await first.exited;
    const lastByFirst = (await CollectorRun.findOne({ owner: new RegExp(ownerOf(first)), inserted: { $gt: 0 } })
      .sort({ tick: -1 })
      .lean())!;
    const takeover = await until(
      'the second replica collecting',
      async () =>
        CollectorRun.findOne({
          owner: new RegExp(ownerOf(second)),
          status: { $in: ['ok', 'partial'] },
          inserted: { $gt: 0 },
        })
          .sort({ tick: 1 })
          .lean(),
      6 * INTERVAL,
    );
    // Two ticks from the kill: the lease outlives its holder by half an interval, so the first
    // boundary after the kill may still find it held, the second never does.
    const ticksAfterKill = (takeover.tick.getTime() - killedAt) / INTERVAL;
    assert.ok(ticksAfterKill <= 2, `took over ${ticksAfterKill.toFixed(2)} ticks after the kill`);
    const ticksLater = (takeover.tick.getTime() - lastByFirst.tick.getTime()) / INTERVAL;
    // The tick in between (if any) is backfilled by the new holder: no hole, no duplicate.
    await until(
      'the next tick after takeover',
      async () =>
        (await CollectorRun.countDocuments({ owner: new RegExp(ownerOf(second)), tick: { $gt: takeover.tick } })) > 0,
      3 * INTERVAL,
    );
    const rows = await Sample.aggregate<{ _id: Date; n: number }>([
      { $match: { ts: { $gte: lastByFirst.tick, $lte: takeover.tick } } },
      { $group: { _id: '$ts', n: { $sum: 1 } } },
    ]);
    const span = ticksLater + 1;
    assert.equal(rows.length, span, `every tick from ${lastByFirst.tick.toISOString()} on is there`);
    assert.ok(
      rows.every((r) => r.n === MARKETS),
      JSON.stringify(rows),
    );
    const duplicates = await Sample.aggregate([
      { $group: { _id: { m: '$market', ts: '$ts' }, n: { $sum: 1 } } },
      { $match: { n: { $gt: 1 } } },
    ]);
    const runs = duplicates.length
      ? await CollectorRun.find({}, { tick: 1, owner: 1, status: 1, inserted: 1, backfilled: 1, duplicates: 1 })
          .sort({ tick: 1 })
          .lean()
      : [];
    assert.deepEqual(duplicates, [], `no duplicate samples; runs: ${JSON.stringify(runs)}`);
    assert.equal(mongoose.connection.readyState, 1);
  });
});
