/**
 * The one place tests build minute samples. A sample gets plain defaults (a flat price of `last`, a
 * small steady volume); a test states only the fields it is about.
 */
import type { SampleInput } from '../../src/market/samples.js';

/** A sample of `market` at `ts` (a Date or epoch ms): flat at `last`, unless `fields` say otherwise. */
export function sampleAt(
  market: string,
  ts: Date | number,
  fields: Partial<Omit<SampleInput, 'market' | 'ts'>> = {},
): SampleInput {
  const last = fields.last ?? 100;
  return {
    market,
    ts: ts instanceof Date ? ts : new Date(ts),
    source: 'simulated',
    last,
    high: last,
    low: last,
    changePct: 0,
    volume24h: 1_000,
    volumeMinute: 1,
    ...fields,
  };
}

/** `n` minutes after 2026-01-01 00:00 UTC. */
export const minuteOf2026 = (n: number): Date => new Date(Date.UTC(2026, 0, 1, 0, n));
