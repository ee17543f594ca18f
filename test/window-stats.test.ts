import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { MarketStat } from '../src/db/models/index.js';
import { gridTicks, readFrames, toFrame, writeFrames } from '../src/market/pipeline/frames.js';
import { loadBook, saveBook } from '../src/market/pipeline/stats-store.js';
import { upsertMarkets, invalidateCatalog } from '../src/market/catalog.js';
import { clearQueryCaches, getMarketReport, getRanking } from '../src/market/queries.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { computeStats } from '../src/market/stats.js';
import { loadTable, updateWindowStats } from '../src/market/window-stats.js';
import { useTestDatabase } from './support/db.js';

useTestDatabase('window_stats');

/** One pipeline step over stored data: the minute's frame, the stored book slid to it, stored again. */
async function slideStored(minute: number) {
  const T = at(minute).getTime();
  const frame = toFrame(
    T,
    history.filter((s) => s.ts.getTime() === T),
  );
  await writeFrames('simulated', [frame]);
  const book = (await loadBook('simulated'))!;
  const edges = new Map();
  for (const W of [1, 6, 24, 168].map((h) => h * 3_600_000)) {
    for (const [t, f] of await readFrames('simulated', gridTicks(book.asOf - W, T - W + 90_000, MIN))) edges.set(t, f);
  }
  const { figures } = book.fold(T, [frame], edges);
  if (figures.added || figures.removed) await saveBook(book);
  return figures;
}

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

  it('builds exact statistics and the tick frames on the first pass', async () => {
    const result = await updateWindowStats({ tick: at(100), source: 'simulated' });
    assert.equal(result.markets, 5, "'few' has no sample up to minute 100 yet");
    assert.equal(result.samplesRead, 500, JSON.stringify(result));
    assert.equal(result.framesWritten, 100, 'one frame per stored tick, for the slide to remove what leaves');
    const { entries } = await loadTable('price', '1h');
    const big = entries.find((e) => e.market === 'sim:big-usd')!;
    const expected = exactOf('sim:big-usd', 'last', at(100).getTime(), 3_600_000, true);
    assert.equal(big.count, 60);
    assert.ok(Math.abs(big.std! - expected.std!) < 1e-9);
  });

  it('slides the windows tick by tick and stays equal to an exact computation', async () => {
    for (let m = 101; m <= 130; m++) {
      await addMinutes(m, m);
      const figures = await slideStored(m);
      const values = history
        .filter((s) => s.ts.getTime() === at(m).getTime())
        .reduce((n, s) => n + 5 + (s.volumeMinute === null ? 0 : 1) + (s.quoteVolume24h === undefined ? 0 : 1), 0);
      assert.equal(figures.added, 4 * values, `minute ${m}: every value of every market added to each window`);
      assert.ok(figures.removed >= 5 * 6, `minute ${m}: the values an hour old removed (${figures.removed})`);
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
    const before = await MarketStat.collection.find({ source: 'simulated' }).toArray();
    const figures = await slideStored(130);
    assert.deepEqual(figures, { added: 0, removed: 0 });
    assert.deepEqual(await MarketStat.collection.find({ source: 'simulated' }).toArray(), before);
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

  it('recomputes exactly after a long pause', async () => {
    await addMinutes(131, 300);
    const r = await updateWindowStats({ tick: at(300), source: 'simulated' });
    assert.equal(r.markets, 6, 'a pause longer than the shortest window is rebuilt exactly, not slid over');
    const book = (await loadBook('simulated'))!;
    assert.equal(book.exactAt[book.slots.get('sim:small-usd')!], at(300).getTime());
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
});
