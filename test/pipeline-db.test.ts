/**
 * The pipeline against the database: ticks of the simulated source run through the Pipeline as the
 * worker runs them, with every market's per-minute volume tracked. After each step the stored
 * statistics are compared with an exact rebuild from the samples, and the outbox with a plain
 * recomputation of every verdict from the stored samples: through a retried tick, a late tick,
 * a takeover by another replica in the middle of an hour, and 30 minutes of downtime.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { Alert, Lease, Market, Sample, Subscription } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { METRIC_NAMES, WINDOW_NAMES } from '../src/market/metrics.js';
import { Pipeline } from '../src/market/pipeline/pipeline.js';
import { markRulesChanged } from '../src/alerts/subscriptions.js';
import { loadBook, rebuildBook } from '../src/market/pipeline/stats-store.js';
import { useTestDatabase } from './support/db.js';

useTestDatabase('pipeline_db');

const MIN = 60_000;
const T0 = Date.UTC(2026, 3, 1, 10, 0);
const at = (m: number) => new Date(T0 + m * MIN);
const config = loadConfig({
  MARKET_SOURCE: 'simulated',
  SIMULATED_MARKETS: '12',
  SIMULATED_SPIKE_EVERY: '10m',
  BACKFILL_MAX: '70m',
  LOG_LEVEL: 'silent',
});

/** Stored statistics equal an exact rebuild from the stored samples, for every window and metric. */
async function assertExact(tick: Date): Promise<void> {
  const stored = (await loadBook('simulated'))!;
  assert.equal(stored.asOf, tick.getTime(), 'statistics are as of the tick');
  const exact = (await rebuildBook('simulated', tick.getTime())).book;
  assert.equal(stored.size >= exact.size, true);
  for (const market of exact.markets) {
    for (const w of WINDOW_NAMES) {
      for (const m of METRIC_NAMES) {
        const a = stored.view(market, w, m)!;
        const b = exact.view(market, w, m)!;
        const where = `${market} ${w} ${m}`;
        assert.equal(a.n, b.n, `${where} count`);
        if (b.n === 0) continue;
        const close = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(y), 1e-12);
        assert.ok(close(a.mean, b.mean), `${where} mean ${a.mean} vs ${b.mean}`);
        assert.ok(
          Math.abs(Math.sqrt(a.m2 / a.n) - Math.sqrt(b.m2 / b.n)) <= 1e-9 * Math.abs(b.mean) + 1e-12,
          `${where} std`,
        );
        assert.equal(a.rn, b.rn, `${where} returns`);
      }
    }
  }
}

/** Every spike a plain recomputation finds among the points of ticks (from, to], from stored samples. */
async function expectedSpikes(from: Date, to: Date): Promise<string[]> {
  const out: string[] = [];
  const points = await Sample.find({ ts: { $gt: from, $lte: to } }).lean();
  for (const p of points) {
    if (typeof p.volumeMinute !== 'number') continue;
    const hour = await Sample.find({
      market: p.market,
      ts: { $gte: new Date(p.ts.getTime() - 3_600_000), $lt: p.ts },
    }).lean();
    const values = hour.map((s) => s.volumeMinute).filter((v): v is number => typeof v === 'number');
    if (values.length < 30) continue;
    const mean = values.reduce((a, v) => a + v, 0) / values.length;
    if (mean > 0 && p.volumeMinute > 3 * mean) out.push(`${p.market}|${p.ts.toISOString()}`);
  }
  return out.sort();
}

async function alertKeys(from: Date, to: Date): Promise<string[]> {
  const alerts = await Alert.find({ ts: { $gt: from, $lte: to } }).lean();
  return alerts.map((a) => `${a.market}|${a.ts.toISOString()}`).sort();
}

describe('the pipeline over the database', () => {
  const a = new Pipeline(config, 'simulated', { owner: 'replica-a' });

  before(async () => {
    initLogger(config);
    // The first tick backfills 70 minutes and rebuilds the statistics from them.
    const first = await a.tick(at(0));
    assert.equal(first.result.status, 'ok');
    assert.equal(first.stats?.book, 'rebuilt');
    const markets = await Market.find({}, { _id: 1 }).lean();
    await Subscription.insertMany(
      markets.map((m) => ({ channel: 'slack:T1:C1', market: String(m._id), metric: 'volume', cooldownMs: 0 })),
    );
    // Written past src/alerts/subscriptions.ts: tell the pipeline's rule cache, as its writes do.
    await markRulesChanged();
  });

  it('slides the statistics tick by tick and judges each point as a plain recomputation does', async () => {
    for (let m = 1; m <= 25; m++) {
      const r = await a.tick(at(m));
      assert.equal(r.result.status, 'ok');
      assert.equal(r.stats?.book, 'memory', `minute ${m}: nothing re-read`);
    }
    await assertExact(at(25));
    const expected = await expectedSpikes(at(0), at(25));
    assert.ok(expected.length >= 3, `spikes to find: ${expected.length}`);
    assert.deepEqual(await alertKeys(at(0), at(25)), expected);
  });

  it('does nothing more for a retried tick or a late one already collected', async () => {
    const before = await Alert.countDocuments();
    const retried = await a.tick(at(25));
    assert.equal(retried.result.status, 'skipped');
    const late = await a.tick(at(20));
    assert.equal(late.result.status, 'skipped');
    assert.equal(await Alert.countDocuments(), before);
    await assertExact(at(25));
  });

  it('lets another replica take over in the middle of an hour: it loads the stored book and goes on', async () => {
    await a.tick(at(26));
    // replica-a dies without handing the lease over: its lease runs out.
    await Lease.deleteMany({});
    const b = new Pipeline(config, 'simulated', { owner: 'replica-b' });
    const r = await b.tick(at(27));
    assert.equal(r.stats?.book, 'loaded');
    const standby = await a.tick(at(28));
    assert.equal(standby.result.status, 'skipped', 'the old holder is now the standby');
    await b.tick(at(28));
    await assertExact(at(28));
    assert.deepEqual(await alertKeys(at(25), at(28)), await expectedSpikes(at(25), at(28)));
    assert.equal(
      (await Alert.aggregate([{ $group: { _id: '$key', n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }])).length,
      0,
      'no alert twice',
    );
  });

  it('backfills 30 minutes of downtime, folds them in, and judges the missed points', async () => {
    const b = new Pipeline(config, 'simulated', { owner: 'replica-b' });
    const r = await b.tick(at(59));
    assert.equal(r.result.status, 'ok');
    assert.ok(r.result.backfilled >= 30 * 12 - 12, `backfilled ${r.result.backfilled}`);
    assert.equal(r.stats?.book, 'loaded');
    await assertExact(at(59));
    assert.deepEqual(await alertKeys(at(28), at(59)), await expectedSpikes(at(28), at(59)));
    const counts = await Sample.aggregate([
      { $group: { _id: { m: '$market', t: '$ts' }, n: { $sum: 1 } } },
      { $match: { n: { $gt: 1 } } },
    ]);
    assert.equal(counts.length, 0, 'no duplicate minute');
    assert.equal(await Sample.countDocuments({ ts: { $gt: at(0), $lte: at(59) } }), 59 * 12, 'no missing minute');
  });
});
