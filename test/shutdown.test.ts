/**
 * Graceful shutdown in the middle of a tick: SIGTERM while the collector is writing a long
 * backfill. The process exits cleanly, every tick is either complete or absent (never some markets
 * only), and after a restart the rest is filled in without duplicates.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CollectorRun, Sample } from '../src/db/models/index.js';
import { startAppProcess } from './support/app-process.js';
import { useTestDatabase } from './support/db.js';
import { until } from './support/wait.js';

const INTERVAL = 5_000;
const MARKETS = 7;

async function perTick(): Promise<Map<number, number>> {
  const rows = await Sample.aggregate<{ _id: Date; n: number }>([{ $group: { _id: '$ts', n: { $sum: 1 } } }]);
  return new Map(rows.map((r) => [r._id.getTime(), r.n]));
}

describe('SIGTERM during a tick', () => {
  const db = useTestDatabase('shutdown');
  const env = {
    MONGODB_URI: `${db.uri}/${db.dbName}`,
    HTTP_PORT: '0',
    MARKET_SOURCE: 'simulated',
    SIMULATED_MARKETS: String(MARKETS),
    COLLECT_INTERVAL: `${INTERVAL / 1000}s`,
    BACKFILL_MAX: '6h',
    LOG_LEVEL: 'info',
  };

  it('loses nothing and duplicates nothing across the stop and a restart', async () => {
    const first = startAppProcess(env);
    // Stop once the first backfill batch has landed and more are still to come.
    await until(
      'the first backfill batch',
      async () => (await CollectorRun.countDocuments({ backfilled: { $gt: 0 } })) > 0,
      60_000,
    );
    const stopped = await first.stop('SIGTERM');
    assert.equal(stopped.code, 0, first.stderr.join('\n'));
    assert.deepEqual(
      first.lines.filter((l) => l.level === 'error' || l.level === 'fatal'),
      [],
    );

    const afterStop = await perTick();
    const expectedTicks = (6 * 3_600_000) / INTERVAL;
    assert.ok(afterStop.size > 0 && afterStop.size < expectedTicks, `stopped midway (${afterStop.size} ticks written)`);
    for (const [ts, n] of afterStop)
      assert.equal(n, MARKETS, `tick ${new Date(ts).toISOString()} has ${n} of ${MARKETS} markets`);

    const second = startAppProcess(env);
    try {
      const done = await second.waitFor((l) => l.msg === 'missed ticks backfilled', 90_000, 'the backfill to resume');
      const from = Date.parse(String(done.from));
      const to = Date.parse(String(done.to));
      const ticks = await perTick();
      for (let t = Math.max(from, Math.min(...afterStop.keys())); t <= to; t += INTERVAL) {
        assert.equal(ticks.get(t), MARKETS, `tick ${new Date(t).toISOString()} is complete after the restart`);
      }
      for (const [ts, n] of ticks) assert.equal(n, MARKETS, `tick ${new Date(ts).toISOString()}`);
      const total = await Sample.countDocuments({});
      assert.equal(
        total,
        [...ticks.values()].reduce((a, b) => a + b, 0),
      );
      const distinct = await Sample.aggregate([{ $group: { _id: { m: '$market', ts: '$ts' } } }, { $count: 'n' }]);
      assert.equal(distinct[0].n, total, 'no duplicate samples');
    } finally {
      const s = await second.stop('SIGTERM');
      assert.equal(s.code, 0);
    }
  });
});
