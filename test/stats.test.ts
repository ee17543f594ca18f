import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downsample } from '../src/market/downsample.js';
import {
  addValue,
  computeStats,
  emptyMoments,
  logReturns,
  meanStd,
  momentsStd,
  removeValue,
  type Point,
} from '../src/market/stats.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const series = (values: number[], stepMs = MIN): Point[] => values.map((value, i) => ({ ts: T0 + i * stepMs, value }));
const close = (actual: number | null, expected: number, tolerance = 1e-12) =>
  assert.ok(
    actual !== null && Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${actual} != ${expected}`,
  );

describe('computeStats', () => {
  it('matches figures computed by hand', () => {
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, population variance 4, std 2.
    const s = computeStats(series([2, 4, 4, 4, 5, 5, 7, 9]), { logReturns: true });
    assert.equal(s.count, 8);
    assert.equal(s.first, 2);
    assert.equal(s.last, 9);
    assert.equal(s.min, 2);
    assert.equal(s.max, 9);
    close(s.mean, 5);
    close(s.std, 2);
    close(s.rsd, 0.4);
    assert.equal(s.change, 7);
    close(s.changePct, 350);
    // Returns ln(9/2) in total over 7 steps: the std of ln(4/2), 0, 0, ln(5/4), 0, ln(7/5), ln(9/7).
    const r = [Math.log(2), 0, 0, Math.log(5 / 4), 0, Math.log(7 / 5), Math.log(9 / 7)];
    const mean = r.reduce((a, b) => a + b) / r.length;
    close(s.logretStd, Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / r.length));
    assert.equal(s.firstTs?.getTime(), T0);
    assert.equal(s.lastTs?.getTime(), T0 + 7 * MIN);
  });

  it('gives nulls and a zero count for an empty window', () => {
    const s = computeStats([], { logReturns: true });
    assert.deepEqual(s, {
      count: 0,
      first: null,
      last: null,
      min: null,
      max: null,
      mean: null,
      std: null,
      rsd: null,
      change: null,
      changePct: null,
      logretStd: null,
      firstTs: null,
      lastTs: null,
    });
  });

  it('gives zero spread for one point and no log returns', () => {
    const s = computeStats(series([42]), { logReturns: true });
    assert.equal(s.count, 1);
    assert.equal(s.std, 0);
    assert.equal(s.rsd, 0);
    assert.equal(s.change, 0);
    assert.equal(s.changePct, 0);
    assert.equal(s.logretStd, null);
  });

  it('gives exactly zero std for a constant series, even a large price', () => {
    const s = computeStats(series(Array(1440).fill(64_123.45)), { logReturns: true });
    assert.equal(s.std, 0);
    assert.equal(s.rsd, 0);
    assert.equal(s.logretStd, 0);
  });

  it('stays accurate where a sum-of-squares formula cancels to noise', () => {
    // 1e9 + {4, 7, 13, 16}: variance 22.5 exactly; naive E[x^2]-E[x]^2 loses it in 64-bit floats.
    const s = computeStats(series([1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]));
    close(s.std, Math.sqrt(22.5), 1e-9);
  });

  it('leaves rsd and changePct undefined around zero, without dividing by it', () => {
    const s = computeStats(series([0, 0, 0]), { logReturns: true });
    assert.equal(s.std, 0);
    assert.equal(s.rsd, null);
    assert.equal(s.changePct, null);
    assert.equal(s.logretStd, null, 'no log of zero');
    const around = computeStats(series([-1, 1]));
    assert.equal(around.mean, 0);
    assert.equal(around.rsd, null);
  });

  it('uses the absolute mean for rsd of a negative series', () => {
    const s = computeStats(series([-2, -4, -4, -4, -5, -5, -7, -9]));
    close(s.rsd, 0.4);
    close(s.changePct, -350);
  });

  it('takes no log return across a gap or next to a non-positive value', () => {
    const points: Point[] = [
      { ts: T0, value: 100 },
      { ts: T0 + MIN, value: 110 },
      { ts: T0 + 10 * MIN, value: 50 }, // after a 9-minute outage
      { ts: T0 + 11 * MIN, value: 0 },
      { ts: T0 + 12 * MIN, value: 55 },
      { ts: T0 + 13 * MIN, value: 60.5 },
    ];
    const r = logReturns(points);
    assert.equal(r.length, 2);
    close(r[0]!, Math.log(1.1));
    close(r[1]!, Math.log(1.1));
    assert.equal(computeStats(points, { logReturns: true }).logretStd, 0);
  });

  it('skips log returns for metrics that are not prices', () => {
    assert.equal(computeStats(series([1, 2, 3])).logretStd, null);
  });
});

describe('running moments', () => {
  it('add and remove agree with a two-pass computation over a sliding window', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const values = Array.from({ length: 5000 }, () => 60_000 + rand() * 50);
    const m = emptyMoments();
    const width = 1440;
    for (let i = 0; i < values.length; i++) {
      addValue(m, values[i]!);
      if (i >= width) removeValue(m, values[i - width]!);
    }
    const exact = meanStd(values.slice(-width))!;
    assert.equal(m.n, width);
    close(m.mean, exact.mean, 1e-12);
    close(momentsStd(m), exact.std, 1e-6);
  });

  it('empties cleanly', () => {
    const m = emptyMoments();
    addValue(m, 3);
    removeValue(m, 3);
    assert.deepEqual(m, { n: 0, mean: 0, m2: 0 });
    assert.equal(momentsStd(m), null);
  });
});

describe('downsample', () => {
  it('keeps a one-minute spike in a day of minutes reduced to 90 buckets', () => {
    const values = Array.from({ length: 1440 }, (_, i) => (i === 777 ? 500 : 100 + (i % 3)));
    const points = series(values);
    const out = downsample(points, 90, T0, T0 + 1440 * MIN);
    assert.equal(out.length, 90);
    const spike = out.filter((b) => b.max === 500);
    assert.equal(spike.length, 1);
    assert.equal(spike[0]!.ts.getTime(), T0 + Math.floor(777 / 16) * 16 * MIN);
    assert.ok(out.every((b) => b.min >= 100 && b.min <= b.last && b.last <= b.max));
    assert.equal(out.at(-1)!.last, values.at(-1));
  });

  it('returns short series point by point, and leaves gaps as gaps', () => {
    assert.deepEqual(
      downsample(series([1, 2]), 90, T0, T0 + 2 * MIN).map((b) => [b.ts.getTime(), b.min, b.max, b.last]),
      [
        [T0, 1, 1, 1],
        [T0 + MIN, 2, 2, 2],
      ],
    );
    const gappy = [
      ...series(Array(100).fill(1)),
      ...series(Array(100).fill(2)).map((p) => ({ ...p, ts: p.ts + 1000 * MIN })),
    ];
    const out = downsample(gappy, 10, T0, T0 + 1100 * MIN);
    assert.ok(out.length < 10, 'empty slices are not invented');
    assert.deepEqual(
      out.map((b) => b.last),
      [1, 2],
    );
  });

  it('refuses a nonsensical bucket count', () => {
    assert.throws(() => downsample(series([1, 2, 3]), 0, T0, T0 + 3 * MIN), RangeError);
  });
});
