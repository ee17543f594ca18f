import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HourWindow, baselineWindow, detectSpikeAt, judge, type SeriesPoint } from '../src/alerts/rules/spike.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0);
const min = (n: number) => T0 + n * 60_000;

/** `count` points of `value` in the minutes before minute `at`, then the judged point at `at`. */
function series(count: number, value: number, at: number, last: number): SeriesPoint[] {
  const points: SeriesPoint[] = [];
  for (let i = count; i >= 1; i--) points.push({ ts: min(at - i), value });
  points.push({ ts: min(at), value: last });
  return points;
}

const rule = { factor: 3, minPoints: 30 };

describe('spike judgement on crafted series', () => {
  it('does not call exactly factor x the baseline a spike, and calls just above it one', () => {
    const exact = series(60, 10, 60, 30);
    const verdict = detectSpikeAt(exact, exact.length - 1, rule);
    assert.equal(verdict.spike, false);
    assert.equal(verdict.spike === false && verdict.reason, 'below-threshold');
    assert.equal(verdict.ratio, 3);

    const above = series(60, 10, 60, 30.000001);
    const v2 = detectSpikeAt(above, above.length - 1, rule);
    assert.equal(v2.spike, true);
    assert.equal(v2.baseline, 10);
    assert.equal(v2.points, 60);
  });

  it('leaves the judged point out of its own baseline', () => {
    const s = series(60, 10, 60, 100);
    const verdict = detectSpikeAt(s, s.length - 1, rule);
    // Had the point counted, the baseline would be (600 + 100) / 61 = 11.48 and the ratio 8.7.
    assert.equal(verdict.baseline, 10);
    assert.equal(verdict.ratio, 10);
    assert.equal(verdict.points, 60);
  });

  it('takes the hour as [ts - 1h, ts): the point exactly an hour earlier counts, one before it does not', () => {
    const s: SeriesPoint[] = [
      { ts: min(-61), value: 1_000 },
      { ts: min(-60), value: 4 },
      { ts: min(-1), value: 6 },
      { ts: min(0), value: 16 },
    ];
    assert.deepEqual(baselineWindow(s, min(0)), { sum: 10, count: 2 });
    const verdict = detectSpikeAt(s, 3, { factor: 3, minPoints: 2 });
    assert.equal(verdict.spike, true);
    assert.equal(verdict.baseline, 5);
  });

  it('gives no verdict with too few points, and says so', () => {
    const s = series(29, 10, 60, 1_000);
    const verdict = detectSpikeAt(s, s.length - 1, rule);
    assert.equal(verdict.spike, false);
    assert.equal(verdict.spike === false && verdict.reason, 'too-few-points');
    assert.equal(verdict.points, 29);
    const enough = series(30, 10, 60, 1_000);
    assert.equal(detectSpikeAt(enough, enough.length - 1, rule).spike, true);
  });

  it('gives no verdict on a zero baseline, however large the point', () => {
    const s = series(60, 0, 60, 5);
    const verdict = detectSpikeAt(s, s.length - 1, rule);
    assert.equal(verdict.spike, false);
    assert.equal(verdict.spike === false && verdict.reason, 'zero-baseline');
  });

  it('gives no verdict on a negative baseline (a falling 24h change)', () => {
    const s = series(60, -2, 60, 1);
    const verdict = detectSpikeAt(s, s.length - 1, rule);
    assert.equal(verdict.spike === false && verdict.reason, 'negative-baseline');
  });

  it('skips missing values, in the baseline and as the judged point', () => {
    const s = series(60, 10, 60, 50);
    s[5] = { ts: s[5]!.ts, value: null };
    const verdict = detectSpikeAt(s, s.length - 1, rule);
    assert.equal(verdict.points, 59);
    assert.equal(verdict.spike, true);
    const none = judge(null, { sum: 600, count: 60 }, rule);
    assert.equal(none.spike === false && none.reason, 'no-value');
  });

  it('applies each subscription its own factor', () => {
    const s = series(60, 10, 60, 40);
    assert.equal(detectSpikeAt(s, s.length - 1, { factor: 3, minPoints: 30 }).spike, true);
    assert.equal(detectSpikeAt(s, s.length - 1, { factor: 5, minPoints: 30 }).spike, false);
    assert.equal(detectSpikeAt(s, s.length - 1, { factor: 3.99, minPoints: 30 }).spike, true);
    assert.equal(detectSpikeAt(s, s.length - 1, { factor: 4, minPoints: 30 }).spike, false);
  });
});

describe('the running hour window', () => {
  it('agrees with a full reread of the hour at every point of a long irregular series', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const s: SeriesPoint[] = [];
    let t = 0;
    for (let i = 0; i < 600; i++) {
      t += rand() < 0.1 ? 5 * 60_000 : 60_000; // gaps
      const spike = rand() < 0.05 ? 1e6 : 0;
      s.push({ ts: T0 + t, value: rand() < 0.03 ? null : rand() * 100 + spike });
    }
    const w = new HourWindow();
    for (let i = 0; i < s.length; i++) {
      const p = s[i]!;
      const incremental = w.judgeAt(p.ts as number, p.value, { factor: 3, minPoints: 10 });
      const full = detectSpikeAt(s, i, { factor: 3, minPoints: 10 });
      assert.equal(incremental.points, full.points, `points at ${i}`);
      assert.equal(incremental.spike, full.spike, `verdict at ${i}`);
      if (full.baseline !== null)
        assert.ok(
          Math.abs(incremental.baseline! - full.baseline) <= 1e-9 * Math.abs(full.baseline),
          `baseline at ${i}`,
        );
      if (p.value !== null) w.add(p.ts as number, p.value);
    }
  });

  it('returns to an exact zero once a huge spike has left a flat zero hour', () => {
    const w = new HourWindow();
    w.add(min(0), 0.1);
    w.add(min(1), 1e12);
    w.add(min(2), 0.3);
    for (let i = 3; i < 70; i++) w.add(min(i), 0);
    // After the point at minute 69 the window spans [9, 69]: the hour before the next point plus that point.
    assert.equal(w.count, 61);
    assert.equal(w.sum, 0);
    const verdict = judge(1, w, { factor: 3, minPoints: 1 });
    assert.equal(verdict.spike === false && verdict.reason, 'zero-baseline');
  });

  it('refuses points out of time order', () => {
    const w = new HourWindow();
    w.add(min(5), 1);
    assert.throws(() => w.add(min(5), 2), RangeError);
    assert.throws(() => w.add(min(4), 2), RangeError);
  });
});
