/**
 * The tick pipeline's in-memory pass against plain recomputations from the raw samples: window
 * statistics for every window and metric, and every spike verdict, over simulated histories with
 * random gaps, missing values and spikes, at one-minute and at 10-second ticks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { METRIC_ORDER, METRICS, WINDOWS, WINDOW_NAMES } from '../src/market/metrics.js';
import { type Frame, toFrame, type FrameRow } from '../src/market/pipeline/frames.js';
import { WindowBook } from '../src/market/pipeline/window-book.js';
import { judge } from '../src/alerts/rules/spike.js';
import { computeStats } from '../src/market/stats.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 5, 1, 0, 0);

/** Six hours of 200 markets each minute, and two hours of 60 markets every 10 seconds. */
const SCENARIOS = [
  { label: 'every minute', intervalMs: 60_000, ticks: 6 * 60, markets: 200, judgedFrom: 0 },
  { label: 'every 10 s', intervalMs: 10_000, ticks: 2 * 360, markets: 60, judgedFrom: 360 },
  { label: 'every 5 s', intervalMs: 5_000, ticks: 2 * 720, markets: 30, judgedFrom: 720 },
];

let seed = 7;
const rand = () => {
  seed = (seed * 48271) % 2147483647;
  return seed / 2147483647;
};

/** The raw history: per tick, the rows that were collected (some markets missing). */
function simulate(MARKETS: number, TICKS: number, intervalMs: number): Array<{ tick: number; rows: FrameRow[] }> {
  const price = Array.from({ length: MARKETS }, (_, i) => 10 ** ((i % 9) - 3) * (1 + rand()));
  const out: Array<{ tick: number; rows: FrameRow[] }> = [];
  for (let t = 1; t <= TICKS; t++) {
    const rows: FrameRow[] = [];
    for (let i = 0; i < MARKETS; i++) {
      if (rand() < 0.03) continue; // the market is missing from this tick
      price[i] = price[i]! * Math.exp((rand() - 0.5) * 0.004);
      const spike = rand() < 0.004 ? 5 + rand() * 5 : 1;
      rows.push({
        market: `sim:m${i}-usd`,
        last: price[i],
        high: price[i]! * 1.02,
        low: price[i]! * 0.98,
        changePct: (rand() - 0.5) * 10,
        volumeMinute: rand() < 0.05 ? null : (1 + rand()) * 10 * spike,
        volume24h: 1e6 + t * 17 + i,
        quoteVolume24h: rand() < 0.5 ? null : (1e6 + t) * price[i]!,
      });
    }
    out.push({ tick: T0 + t * intervalMs, rows });
  }
  return out;
}

const FIELD = METRIC_ORDER.map((m) => METRICS[m].field);

const close = (a: number | null, b: number | null, scale: number) =>
  a === null || b === null ? a === b : Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(b), scale);

for (const { label, intervalMs, ticks, markets: MARKETS, judgedFrom } of SCENARIOS) {
  describe(`the tick pipeline against plain recomputation, ${label}`, () => {
    const history = simulate(MARKETS, ticks, intervalMs);
    const byMarket = new Map<string, Map<number, Record<string, unknown>>>();
    for (const h of history) {
      for (const r of h.rows) {
        let m = byMarket.get(r.market);
        if (!m) {
          m = new Map();
          byMarket.set(r.market, m);
        }
        m.set(h.tick, r as Record<string, unknown>);
      }
    }
    /** A market's values of one metric in (from, to] (or [from, to]), from the raw rows. */
    const seriesOf = (market: string, k: number, from: number, to: number, inclusiveFrom: boolean) => {
      const pts: Array<{ ts: number; value: number }> = [];
      const rows = byMarket.get(market);
      for (const h of history) {
        if (h.tick < from || (h.tick === from && !inclusiveFrom) || h.tick > to) continue;
        const v = rows?.get(h.tick)?.[FIELD[k]!];
        if (typeof v === 'number') pts.push({ ts: h.tick, value: v });
      }
      return pts;
    };
    const book = new WindowBook('simulated');
    const frames = new Map<number, Frame>();
    const verdicts: Array<{ market: string; ts: number; k: number; spike: boolean; ratio: number | null }> = [];

    it('folds six hours tick by tick and judges every new point', () => {
      for (const [t, h] of history.entries()) {
        const frame = toFrame(h.tick, h.rows);
        const { baselines } = book.fold(h.tick, [frame], frames);
        frames.set(h.tick, frame);
        if (t < judgedFrom) continue;
        for (const [market, list] of baselines) {
          for (const b of list) {
            for (const k of [METRIC_ORDER.indexOf('volume'), METRIC_ORDER.indexOf('price')]) {
              const v = b.values[k]!;
              const verdict = judge(
                Number.isNaN(v) ? null : v,
                { sum: b.sum[k]!, count: b.count[k]! },
                {
                  factor: 3,
                  minPoints: 30,
                },
              );
              verdicts.push({ market, ts: b.ts, k, spike: verdict.spike, ratio: verdict.ratio });
            }
          }
        }
      }
      assert.equal(book.asOf, history.at(-1)!.tick);
    });

    it('gives every spike verdict a plain recomputation from the raw samples gives', () => {
      let spikes = 0;
      for (const v of verdicts) {
        // The baseline of a point is the mean of the hour before it, the point itself excluded.
        const hour = seriesOf(v.market, v.k, v.ts - HOUR, v.ts - 1, true);
        const point = seriesOf(v.market, v.k, v.ts - 1, v.ts, false)[0];
        let expected = false;
        let ratio: number | null = null;
        if (point && hour.length >= 30) {
          const mean = hour.reduce((a, p) => a + p.value, 0) / hour.length;
          expected = mean > 0 && point.value > 3 * mean;
          ratio = mean > 0 ? point.value / mean : null;
        }
        assert.equal(v.spike, expected, `${v.market} ${METRIC_ORDER[v.k]} at ${new Date(v.ts).toISOString()}`);
        if (ratio !== null && v.ratio !== null) assert.ok(close(v.ratio, ratio, 0), `${v.ratio} vs ${ratio}`);
        if (expected) spikes++;
      }
      assert.ok(spikes > 5, `the history has spikes to find (${spikes})`);
    });

    it('keeps count, mean, std, rsd and log-return std of every window and metric within 1e-9 of two-pass', () => {
      const T = book.asOf;
      let compared = 0;
      for (let i = 0; i < MARKETS; i++) {
        const market = `sim:m${i}-usd`;
        for (const w of WINDOW_NAMES) {
          for (let k = 0; k < METRIC_ORDER.length; k++) {
            const m = METRIC_ORDER[k]!;
            const pts = seriesOf(market, k, T - WINDOWS[w], T, false);
            const exact = computeStats(pts, { logReturns: METRICS[m].isPrice });
            const view = book.view(market, w, m)!;
            assert.equal(view.n, exact.count, `${market} ${w} ${m} count`);
            if (exact.count === 0) continue;
            const std = Math.sqrt(Math.max(0, view.m2) / view.n);
            const scale = Math.abs(exact.mean!);
            assert.ok(close(view.mean, exact.mean, 0), `${market} ${w} ${m} mean ${view.mean} vs ${exact.mean}`);
            assert.ok(close(std, exact.std, scale * 1e-6), `${market} ${w} ${m} std ${std} vs ${exact.std}`);
            assert.ok(close(std / Math.abs(view.mean), exact.rsd, 1e-6), `${market} ${w} ${m} rsd`);
            assert.ok(
              close(
                view.sum,
                pts.reduce((a, p) => a + p.value, 0),
                0,
              ),
              `${market} ${w} ${m} sum`,
            );
            if (METRICS[m].isPrice && exact.logretStd !== null) {
              const r = Math.sqrt(Math.max(0, view.rm2) / view.rn);
              assert.ok(close(r, exact.logretStd, 1e-12), `${market} ${w} ${m} logret ${r} vs ${exact.logretStd}`);
            }
            assert.equal(view.last, exact.last);
            compared++;
          }
        }
      }
      assert.ok(compared > MARKETS * 4 * 6);
    });

    it('keeps only a bounded state: ten numbers per market, window and metric', () => {
      assert.equal(book.size, MARKETS);
      assert.ok(book.bytes <= 64 * 4 * 7 * 10 * 8 * 2 + MARKETS * 4 * 7 * 10 * 8 * 2, `${book.bytes} bytes`);
    });
  });
}
