/**
 * Retention: minute samples and tick records older than RETENTION are deleted. The wire server
 * has no TTL indexes, so this runs as an hourly job; it is idempotent, so replicas need no lease.
 */
import type { Config } from '../config.js';
import { CollectorRun, Sample } from '../db/models/index.js';

export interface PruneResult {
  samples: number;
  runs: number;
  cutoff: Date;
}

export async function pruneSamples(config: Config, now = new Date()): Promise<PruneResult> {
  const cutoff = new Date(now.getTime() - config.market.retentionMs);
  const samples = await Sample.deleteMany({ ts: { $lt: cutoff } });
  const runs = await CollectorRun.deleteMany({ tick: { $lt: cutoff } });
  return { samples: samples.deletedCount, runs: runs.deletedCount, cutoff };
}
