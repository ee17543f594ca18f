/**
 * The level and move rules on hand-worked series: every expected alert below was worked out by hand
 * from the rule as docs/alerts.md states it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeLevel, levelSeries, rearmPrice, type LevelRule } from '../src/alerts/rules/level.js';
import { judgeMove, referenceIn, referenceTicks, type PricePoint } from '../src/alerts/rules/move.js';

const above: LevelRule = { direction: 'above', level: 100_000, hysteresis: 0.005 };
const below: LevelRule = { direction: 'below', level: 2_500, hysteresis: 0.005 };

describe('price levels', () => {
  it('fires once on a crossing up, from an observation below the level', () => {
    // 99,000 arms it; 99,800 is still below; 100,240 reaches it: one alert, then disarmed.
    const { fired, armed } = levelSeries([99_000, 99_800, 100_240, 101_000], above);
    assert.deepEqual(fired, [2]);
    assert.equal(armed, false);
  });

  it('fires once on a crossing down, and counts exactly the level as reached', () => {
    assert.deepEqual(levelSeries([2_650, 2_600, 2_500, 2_450], below).fired, [2]);
    const at = judgeLevel(2_500, true, below);
    assert.equal(at.fire, true);
    assert.equal(at.pastPercent, 0);
  });

  it('does not fire on a first price already past the level: a crossing needs an earlier one on the other side', () => {
    const first = judgeLevel(100_500, null, above);
    assert.equal(first.fire, false);
    assert.equal(first.reason, 'first-past');
    assert.equal(first.armed, false);
    // It hovers around the level but never goes back under 99,500: still nothing.
    assert.deepEqual(levelSeries([100_500, 99_900, 100_100], above).fired, []);
  });

  it('does not repeat while the price hovers at the level', () => {
    // Fires at 100,010; then 99,990 / 100,005 / 99,600 / 100,020 stay within the 0.5% margin (99,500).
    const { fired, armed } = levelSeries([99_000, 100_010, 99_990, 100_005, 99_600, 100_020], above);
    assert.deepEqual(fired, [1]);
    assert.equal(armed, false);
  });

  it('re-arms after the price went back past the level by the hysteresis, then fires again', () => {
    assert.equal(rearmPrice(above), 99_500);
    // Fires at 100,100 (i=1); 99,500 is exactly the margin and re-arms; 100,000 fires again (i=4).
    const { fired } = levelSeries([99_000, 100_100, 99_700, 99_500, 100_000], above);
    assert.deepEqual(fired, [1, 4]);
    // Below: re-arms at 2,512.5 (2,500 + 0.5%), not at 2,512.
    assert.deepEqual(levelSeries([2_600, 2_490, 2_512, 2_495], below).fired, [1]);
    assert.deepEqual(levelSeries([2_600, 2_490, 2_512.5, 2_495], below).fired, [1, 3]);
  });

  it('keeps its state across a missing value', () => {
    const v = judgeLevel(null, true, above);
    assert.equal(v.reason, 'no-value');
    assert.equal(v.armed, true);
    assert.equal(v.changed, false);
    assert.deepEqual(levelSeries([99_000, null, 100_001], above).fired, [2]);
  });
});

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0);
const at = (m: number) => T0 + m * MIN;

describe('percent moves', () => {
  it('fires on a move up: 2,500 -> 2,650 is +6%', () => {
    const v = judgeMove(2_650, 2_500, { direction: 'up', percent: 5 });
    assert.equal(v.fire, true);
    assert.ok(v.fire && v.direction === 'up' && Math.abs(v.change - 6) < 1e-12);
    assert.equal(judgeMove(2_650, 2_500, { direction: 'down', percent: 5 }).fire, false);
  });

  it('fires on a move down: 2,650 -> 2,510 is -5.28%', () => {
    const v = judgeMove(2_510, 2_650, { direction: 'down', percent: 5 });
    assert.ok(v.fire && v.direction === 'down');
    assert.ok(v.fire && Math.abs(v.change - (-140 / 2_650) * 100) < 1e-12);
    assert.equal(judgeMove(2_510, 2_650, { direction: 'up', percent: 5 }).fire, false);
  });

  it('fires either way for "either", and not below the threshold', () => {
    assert.equal(judgeMove(2_650, 2_500, { direction: 'either', percent: 5 }).fire, true);
    assert.equal(judgeMove(2_375, 2_500, { direction: 'either', percent: 5 }).fire, true);
    const small = judgeMove(2_600, 2_500, { direction: 'either', percent: 5 });
    assert.equal(small.fire, false);
    assert.ok(!small.fire && small.reason === 'below-threshold' && Math.abs(small.change! - 4) < 1e-12);
  });

  it('fires on a move of exactly the threshold, both ways, despite binary rounding', () => {
    // 2,500 -> 2,625 is exactly +5%; 2,500 -> 2,375 exactly -5%; 0.3 -> 0.309 exactly +3%.
    assert.equal(judgeMove(2_625, 2_500, { direction: 'up', percent: 5 }).fire, true);
    assert.equal(judgeMove(2_375, 2_500, { direction: 'down', percent: 5 }).fire, true);
    assert.equal(judgeMove(0.309, 0.3, { direction: 'up', percent: 3 }).fire, true);
    assert.equal(judgeMove(2_624.99, 2_500, { direction: 'up', percent: 5 }).fire, false);
  });

  it('takes the reference at the window start, or the observation just before it within one interval', () => {
    const series: PricePoint[] = [
      { ts: at(0), value: 100 },
      { ts: at(1), value: 101 },
      { ts: at(2), value: null },
      { ts: at(3), value: 103 },
    ];
    // A 60-minute window from minute 61: the instant is minute 1.
    assert.deepEqual(referenceIn(series, at(61), 60 * MIN, MIN), { ts: at(1), value: 101 });
    // From minute 61.5 (a point between ticks): the instant is 1.5, the nearest before it is minute 1.
    assert.deepEqual(referenceIn(series, at(61.5), 60 * MIN, MIN), { ts: at(1), value: 101 });
    // Minute 2 has no value: minute 1 stands in, one interval earlier.
    assert.deepEqual(referenceIn(series, at(62), 60 * MIN, MIN), { ts: at(1), value: 101 });
    assert.deepEqual(referenceTicks(at(62), 60 * MIN, MIN), [at(2), at(1)]);
    assert.deepEqual(referenceTicks(at(61.5), 60 * MIN, MIN), [at(1)]);
  });

  it('gives no verdict across a gap in the data', () => {
    const series: PricePoint[] = [
      { ts: at(0), value: 100 },
      { ts: at(5), value: 130 },
    ];
    // The instant is minute 3: minutes 2 and 3 are missing, minute 0 is too old.
    const ref = referenceIn(series, at(63), 60 * MIN, MIN);
    assert.equal(ref, null);
    const v = judgeMove(200, ref, { direction: 'either', percent: 5 });
    assert.equal(v.fire, false);
    assert.ok(!v.fire && v.reason === 'no-reference');
    // And nothing before the series starts.
    assert.equal(referenceIn(series, at(30), 60 * MIN, MIN), null);
  });
});
