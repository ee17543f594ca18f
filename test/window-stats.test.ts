import assert from 'node:assert/strict';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { MarketStat, SampleBlock } from '../src/db/models/index.js';
import { upsertMarkets, invalidateCatalog } from '../src/market/catalog.js';
import { clearQueryCaches, getMarketReport, getRanking } from '../src/market/queries.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { computeStats } from '../src/market/stats.js';
import { loadTable, updateWindowStats } from '../src/market/window-stats.js';
import { useTestDatabase } from './support/db.js';

const db = useTestDatabase('window_stats');

const MIN = 60_000;
const T0 = Date.UTC(2026, 2, 1, 0, 0);
const at = (minute: number) => new Date(T0 + minute * MIN);

let seed = 12345;
const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;

/** Price paths whose ranking is known: see the assertions. */
const paths: Record<string, (i: number) => number> = {
  // High price, calm: std about 29, relative std about 0.0006.
  'big-usd': () => 50_000 + (rand() - 0.5) * 100,
  // Low price, volatile: std about 0.03, relative std about 0.06.
  'small-usd': () => 0.5 + (rand() - 0.5) * 0.1,
  'flat-usd': () => 10,
  // Identical series: a tie.
  'twina-usd': (i) => 100 + (i % 7),
  'twinb-usd': (i) => 100 + (i % 7),
};

function sample(base: string, minute: number, last: number): SampleInput {
  return {
    market: `sim:${base}`,
    ts: at(minute),
    source: 'simulated',
    last,
    high: last * 1.01,
    low: last * 0.99,
    changePct: (minute % 11) - 5,
    volume24h: 1000 + minute,
    quoteVolume24h: (1000 + minute) * last,
    // A missing per-minute volume every tenth minute, as after a counter reset.
    volumeMinute: minute % 10 === 0 ? null : (minute % 13) + 1,
  };
}

const history: SampleInput[] = [];
function minuteOf(minute: number): SampleInput[] {
  return Object.entries(paths).map(([base, f]) => sample(base, minute, f(minute)));
}

async function addMinutes(from: number, to: number): Promise<void> {
  const batch: SampleInput[] = [];
  for (let m = from; m <= to; m++) batch.push(...minuteOf(m));
  history.push(...batch);
  await saveSamples(batch);
}

function exactOf(market: string, field: keyof SampleInput, tick: number, windowMs: number, price: boolean) {
  const points = history
    .filter((s) => s.market === market && s.ts.getTime() > tick - windowMs && s.ts.getTime() <= tick)
    .filter((s) => typeof s[field] === 'number')
    .map((s) => ({ ts: s.ts.getTime(), value: s[field] as number }))
    .sort((a, b) => a.ts - b.ts);
  return computeStats(points, { logReturns: price });
}

describe('window statistics after each tick', () => {
  before(async () => {
    await upsertMarkets(
      Object.keys(paths).map((base) => ({
        exchange: 'sim',
        base: base.split('-')[0]!,
        quote: 'usd',
        source: 'simulated',
        symbol: base,
      })),
    );
    // 'few' has a catalog entry but only three samples: too few to rank.
    await upsertMarkets([{ exchange: 'sim', base: 'few', quote: 'usd', source: 'simulated', symbol: 'few-usd' }]);
    await saveSamples([1, 2, 3].map((m) => sample('few-usd', 100 + m, 5 + m)));
    history.push(...[1, 2, 3].map((m) => sample('few-usd', 100 + m, 5 + m)));
    invalidateCatalog();
    await addMinutes(1, 100);
  });

  it('builds blocks and exact statistics on the first pass', async () => {
    const result = await updateWindowStats({ tick: at(100), source: 'simulated' });
    assert.equal(result.markets, 6);
    assert.equal(result.exact, 6);
    assert.ok(result.samplesRead >= 503, JSON.stringify(result));
    assert.equal(await SampleBlock.countDocuments({ market: 'sim:big-usd' }), 2, 'minutes 1-100 span two hours');
    const { entries } = await loadTable('price', '1h');
    const big = entries.find((e) => e.market === 'sim:big-usd')!;
    const expected = exactOf('sim:big-usd', 'last', at(100).getTime(), 3_600_000, true);
    assert.equal(big.count, 60);
    assert.ok(Math.abs(big.std! - expected.std!) < 1e-9);
  });

  it('slides the windows tick by tick and stays equal to an exact computation', async () => {
    for (let m = 101; m <= 130; m++) {
      await addMinutes(m, m);
      const r = await updateWindowStats({ tick: at(m), source: 'simulated', exactPerRun: 0 });
      assert.equal(r.incremental, 6, `minute ${m}: ${JSON.stringify(r)}`);
    }
    const tick = at(130).getTime();
    for (const [metric, field, price] of [
      ['price', 'last', true],
      ['volume', 'volumeMinute', false],
      ['change', 'changePct', false],
    ] as const) {
      const { entries } = await loadTable(metric, '1h');
      for (const market of ['sim:big-usd', 'sim:small-usd', 'sim:twina-usd']) {
        const e = entries.find((x) => x.market === market)!;
        const exact = exactOf(market, field, tick, 3_600_000, price);
        assert.equal(e.count, exact.count, `${market} ${metric} count`);
        assert.ok(Math.abs(e.mean! - exact.mean!) <= 1e-9 * Math.abs(exact.mean!) + 1e-12, `${market} ${metric} mean`);
        assert.ok(
          Math.abs(e.std! - exact.std!) <= 1e-7 * exact.std! + 1e-12,
          `${market} ${metric} std ${e.std} vs ${exact.std}`,
        );
        if (price) assert.ok(Math.abs(e.logretStd! - exact.logretStd!) <= 1e-7 * exact.logretStd!, `${market} logret`);
        assert.equal(e.last, exact.last);
      }
    }
  });

  it('does nothing on a second pass for the same tick', async () => {
    const before = await MarketStat.findById('sim:big-usd').lean();
    const r = await updateWindowStats({ tick: at(130), source: 'simulated' });
    assert.equal(r.skipped, 6);
    assert.deepEqual(await MarketStat.findById('sim:big-usd').lean(), before);
  });

  it('ranks a low-priced volatile market above a high-priced calm one by rsd, and below by raw std', async () => {
    clearQueryCaches();
    const rsd = await getRanking({ window: '1h' });
    assert.equal(rsd.method, '1h relative std dev (std/mean)');
    const order = rsd.top.map((r) => r.market);
    assert.ok(order.indexOf('sim:small-usd') < order.indexOf('sim:big-usd'), order.join());
    assert.equal(order.at(-1), 'sim:flat-usd');
    const std = await getRanking({ window: '1h', by: 'std' });
    const byStd = std.top.map((r) => r.market);
    assert.equal(byStd[0], 'sim:big-usd');
    assert.ok(byStd.indexOf('sim:big-usd') < byStd.indexOf('sim:small-usd'));
    assert.equal(std.method, '1h raw std dev');
  });

  it('shares a position between tied markets and flags them', async () => {
    const report = await getMarketReport('twina-usd', { window: '1h', now: at(130) });
    const other = await getMarketReport('sim:twinb-usd', { window: '1h', now: at(130) });
    assert.ok(report.rank && other.rank);
    assert.equal(report.rank.position, other.rank.position);
    assert.equal(report.rank.tied, true);
    assert.equal(other.rank.tied, true);
    const ranking = await getRanking({ window: '1h', limit: 3 });
    const positions = [...ranking.top, ...ranking.bottom].map((r) => r.position);
    assert.deepEqual(
      positions,
      [1, 2, 2, 4, 5].filter((p) => positions.includes(p)),
    );
  });

  it('leaves out markets with too few points and says so', async () => {
    const ranking = await getRanking({ window: '1h' });
    assert.equal(ranking.total, 5);
    assert.equal(ranking.excluded, 1);
    assert.ok(!ranking.top.some((r) => r.market === 'sim:few-usd'));
    const report = await getMarketReport('few-usd', { window: '1h', now: at(130) });
    assert.equal(report.rank, null);
    assert.match(report.rankNote!, /only 3 points.*at least 10/);
    assert.equal(report.stats.count, 3);
  });

  it('recomputes exactly in rotation and after a long pause', async () => {
    await addMinutes(131, 300);
    const r = await updateWindowStats({ tick: at(300), source: 'simulated' });
    assert.equal(r.exact, 6, 'a pause longer than the shortest window cannot be slid over');
    const stat = await MarketStat.findById('sim:small-usd').lean();
    assert.equal(stat!.exactAt.getTime(), at(300).getTime());
    const { entries } = await loadTable('price', '6h');
    const e = entries.find((x) => x.market === 'sim:small-usd')!;
    const exact = exactOf('sim:small-usd', 'last', at(300).getTime(), 6 * 3_600_000, true);
    assert.equal(e.count, exact.count);
    assert.ok(Math.abs(e.std! - exact.std!) < 1e-12);
  });

  it('answers a report with exact statistics and a bounded series', async () => {
    const report = await getMarketReport('SMALL/USD', { window: '6h', points: 50, now: at(300) });
    const exact = exactOf('sim:small-usd', 'last', at(300).getTime(), 6 * 3_600_000, true);
    assert.equal(report.market.id, 'sim:small-usd');
    assert.equal(report.stats.count, exact.count);
    assert.equal(report.stats.min, exact.min);
    assert.equal(report.stats.max, exact.max);
    assert.ok(Math.abs(report.stats.std! - exact.std!) < 1e-12);
    // Five hours of data in a six-hour window: the first sixth of the 50 slices stays empty.
    assert.equal(report.series.length, 42);
    assert.equal(report.series[0]!.ts.getTime(), at(300).getTime() - 6 * 3_600_000 + 8 * 7.2 * MIN);
    assert.equal(report.series.at(-1)!.last, exact.last);
    assert.equal(Math.max(...report.series.map((b) => b.max)), exact.max);
    assert.equal(report.latestTs?.getTime(), at(300).getTime());
    const volume = await getMarketReport('small-usd', { metric: 'volume', window: '1h', now: at(300) });
    assert.equal(volume.stats.count, 54, 'six null minutes skipped');
    assert.equal(volume.stats.logretStd, null);
  });

  it('rejects bad options naming them', async () => {
    await assert.rejects(getRanking({ metric: 'colour' as never }), { name: 'UserError', message: /metric "colour"/ });
    await assert.rejects(getRanking({ window: '3d' as never }), { name: 'UserError', message: /window "3d"/ });
    await assert.rejects(getRanking({ by: 'vibes' as never }), { name: 'UserError', message: /by "vibes"/ });
    await assert.rejects(getRanking({ metric: 'volume', by: 'logret' }), { name: 'UserError', message: /prices only/ });
    await assert.rejects(getRanking({ limit: 0 }), { name: 'UserError', message: /limit/ });
    await assert.rejects(getMarketReport('btc-usd', { points: 1 }), { name: 'UserError', message: /points/ });
    await assert.rejects(getMarketReport('smal-usd'), (err: Error & { status?: number }) => {
      assert.equal(err.status, 404);
      assert.match(err.message, /Did you mean sim:small-usd/);
      return true;
    });
  });

  it('runs as the Bree job in a worker thread: own connection, figures posted, always ends', async () => {
    await addMinutes(301, 301);
    const root = resolve(import.meta.dirname, '..');
    const worker = new Worker(resolve(root, 'src/worker-bootstrap.mjs'), {
      workerData: {
        entry: pathToFileURL(resolve(root, 'jobs/update-stats.ts')).href,
        dbUri: db.uri,
        dbName: db.dbName,
        tick: at(301).toISOString(),
        source: 'simulated',
        config: loadConfig({ LOG_LEVEL: 'silent' }),
      },
    });
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    const [code] = await once(worker, 'exit');
    assert.equal(code, 0);
    const result = messages.find(
      (m): m is { ok: boolean; result: { incremental: number } } => (m as { type?: string }).type === 'update-stats',
    );
    assert.ok(result?.ok, JSON.stringify(messages));
    assert.equal(result.result.incremental + (result.result as unknown as { exact: number }).exact, 6);
    assert.ok(messages.includes('done'));
    assert.equal((await MarketStat.findById('sim:big-usd').lean())!.asOf.getTime(), at(301).getTime());
  });
});
