/**
 * Price levels as pure functions: `above 100000` fires once when the price reaches the level from
 * below, `below 2500` once when it reaches it from above. A level then stays quiet until the price
 * has gone back past it by the hysteresis margin (ALERT_LEVEL_HYSTERESIS), so a price hovering at
 * the level does not repeat the alert. Semantics and examples: docs/alerts.md ("Price levels").
 *
 * The state is one flag, `armed`:
 * - `null`: nothing observed yet. The first observation arms the rule when it is on the near side
 *   of the level, and disarms it when it is already at or past it (that is no crossing: a crossing
 *   needs an earlier observation on the other side).
 * - `true`: every observation since arming was on the near side; reaching the level fires.
 * - `false`: fired (or first seen past the level); re-armed by a price back past the level by the margin.
 */

export type LevelDirection = 'above' | 'below';

export interface LevelRule {
  direction: LevelDirection;
  level: number;
  /** Re-arm margin as a fraction of the level (0.005 = 0.5%). */
  hysteresis: number;
}

export type LevelReason = 'no-value' | 'first-armed' | 'first-past' | 'crossed' | 'waiting' | 'holding' | 'rearmed';

export interface LevelVerdict {
  fire: boolean;
  reason: LevelReason;
  /** The state after this observation. */
  armed: boolean | null;
  /** Whether this observation changed the state (a write is due). */
  changed: boolean;
  value: number | null;
  level: number;
  /** How far past the level the price is, in percent of the level (negative: not there yet). */
  pastPercent: number | null;
}

/** Whether a price is at or past the level, on the side the rule watches. */
export function reached(rule: Pick<LevelRule, 'direction' | 'level'>, value: number): boolean {
  return rule.direction === 'above' ? value >= rule.level : value <= rule.level;
}

/** The price that re-arms a fired level: back past it by the margin. */
export function rearmPrice(rule: LevelRule): number {
  return rule.direction === 'above' ? rule.level * (1 - rule.hysteresis) : rule.level * (1 + rule.hysteresis);
}

function rearms(rule: LevelRule, value: number): boolean {
  const at = rearmPrice(rule);
  return rule.direction === 'above' ? value <= at : value >= at;
}

export function pastPercent(rule: Pick<LevelRule, 'direction' | 'level'>, value: number): number {
  const past = rule.direction === 'above' ? value - rule.level : rule.level - value;
  return (past / rule.level) * 100;
}

/** Judges one observation of the price against a level in the given state. */
export function judgeLevel(value: number | null | undefined, armed: boolean | null, rule: LevelRule): LevelVerdict {
  const base = { level: rule.level };
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return { ...base, fire: false, reason: 'no-value', armed, changed: false, value: null, pastPercent: null };
  }
  const past = pastPercent(rule, value);
  const isPast = reached(rule, value);
  const verdict = (fire: boolean, reason: LevelReason, next: boolean | null): LevelVerdict => ({
    ...base,
    fire,
    reason,
    armed: next,
    changed: next !== armed,
    value,
    pastPercent: past,
  });
  if (armed === null) return isPast ? verdict(false, 'first-past', false) : verdict(false, 'first-armed', true);
  if (armed) return isPast ? verdict(true, 'crossed', false) : verdict(false, 'waiting', true);
  return rearms(rule, value) ? verdict(false, 'rearmed', true) : verdict(false, 'holding', false);
}

/** Walks a series of observations from a state; returns the indexes that fire and the final state. */
export function levelSeries(
  values: readonly (number | null)[],
  rule: LevelRule,
  armed: boolean | null = null,
): { fired: number[]; armed: boolean | null } {
  const fired: number[] = [];
  let state = armed;
  values.forEach((v, i) => {
    const verdict = judgeLevel(v, state, rule);
    if (verdict.fire) fired.push(i);
    state = verdict.armed;
  });
  return { fired, armed: state };
}
