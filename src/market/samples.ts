/**
 * Writing samples. One unordered bulk insert per tick: the unique {market, ts} index turns a
 * retried tick's rows into duplicate-key errors (11000), which are counted, not thrown.
 */
import { samples as sampleCollection, type SampleRecord } from '../db/collections.js';
import { insertManyKeyed } from '../db/errors.js';

export interface SampleInput {
  market: string;
  ts: Date;
  source: string;
  last: number;
  high: number;
  low: number;
  changePct: number;
  changeAbs?: number;
  volume24h: number;
  quoteVolume24h?: number;
  volumeMinute: number | null;
  volumeCum?: number;
}

export interface SaveResult {
  inserted: number;
  duplicates: number;
}

/**
 * A sample's `_id`, `<market>|<epoch ms>`: a market's series is then read by `_id`, which every
 * MongoDB-wire server answers from its primary index (mongo-java-server scans a whole collection
 * for a range query). The unique {market, ts} index stays the rule for duplicates.
 */
export function sampleId(market: string, ts: number): string {
  return `${market}|${ts}`;
}

/** A sample's own keys: `_id` and the unique {market, ts}. A refusal on any other index is a failed write. */
const SAMPLE_KEYS = ['_id_', 'market_1_ts_1'];

export async function saveSamples(samples: readonly SampleInput[]): Promise<SaveResult> {
  if (samples.length === 0) return { inserted: 0, duplicates: 0 };
  // The driver's insertMany skips mongoose document construction: the rows are already
  // validated by the source's normaliser, and at thousands of markets a tick that cost dominates.
  const docs = samples.map((s) => ({ _id: sampleId(s.market, s.ts.getTime()), ...s }));
  const { inserted, duplicates } = await insertManyKeyed(sampleCollection(), docs as SampleRecord[], SAMPLE_KEYS);
  return { inserted, duplicates };
}
