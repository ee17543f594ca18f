/**
 * Percent moves over a window as pure functions: `move 5% 1h` fires when the price now differs from
 * the reference price, the price one window ago, by at least 5% either way; `move up 3% 15m` only
 * when it rose that much, `move down` only when it fell. Semantics: docs/alerts.md ("Percent moves").
 *
 * The reference for a point at `ts` is the observation nearest at or before `ts - window`, but no
 * older than one collect interval before that instant. Without one (a gap in the data) there is no
 * verdict: comparing with an older price would measure a longer window than the rule says.
 */

export type MoveDirection = 'up' | 'down' | 'either';

export interface MoveRule {
  direction: MoveDirection;
  /** Threshold in percent of the reference price (5 = 5%). */
  percent: number;
  windowMs: number;
}

export type MoveReason = 'no-value' | 'no-reference' | 'below-threshold';

export type MoveVerdict =
  | { fire: true; value: number; reference: number; change: number; direction: 'up' | 'down' }
  | { fire: false; reason: MoveReason; value: number | null; reference: number | null; change: number | null };

/**
 * A move of exactly the threshold fires. Prices are decimals that binary floating point cannot
 * always hold exactly (2,500 -> 2,625 may compute as 4.9999999999 %), so "exactly" allows that much.
 */
const EXACT = 1e-9;

/** Judges a price against its reference price. */
export function judgeMove(
  value: number | null | undefined,
  reference: number | null | undefined,
  rule: Pick<MoveRule, 'direction' | 'percent'>,
): MoveVerdict {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return { fire: false, reason: 'no-value', value: null, reference: reference ?? null, change: null };
  }
  if (reference === null || reference === undefined || !Number.isFinite(reference) || reference <= 0) {
    return { fire: false, reason: 'no-reference', value, reference: null, change: null };
  }
  const change = ((value - reference) / reference) * 100;
  const bar = rule.percent * (1 - EXACT);
  const up = change >= bar && rule.direction !== 'down';
  const down = -change >= bar && rule.direction !== 'up';
  if (up || down) return { fire: true, value, reference, change, direction: up ? 'up' : 'down' };
  return { fire: false, reason: 'below-threshold', value, reference, change };
}

/**
 * The collect ticks that may hold the reference of a point at `ts`, newest first: those at or
 * before `ts - windowMs` and no older than one interval before it.
 */
export function referenceTicks(ts: number, windowMs: number, intervalMs: number): number[] {
  const instant = ts - windowMs;
  const newest = Math.floor(instant / intervalMs) * intervalMs;
  const out: number[] = [];
  for (let t = newest; t >= instant - intervalMs; t -= intervalMs) out.push(t);
  return out;
}

export interface PricePoint {
  ts: number;
  value: number | null;
}

/** The reference observation of a point at `ts` in a time-ordered series, or null for a gap. */
export function referenceIn(
  series: readonly PricePoint[],
  ts: number,
  windowMs: number,
  intervalMs: number,
): PricePoint | null {
  const instant = ts - windowMs;
  for (let i = series.length - 1; i >= 0; i--) {
    const p = series[i]!;
    if (p.ts > instant) continue;
    if (p.ts < instant - intervalMs) return null;
    if (p.value !== null && Number.isFinite(p.value)) return p;
  }
  return null;
}
