/**
 * Retention: minute samples and tick records older than RETENTION are deleted (and, through
 * src/db/retention.ts, settled alerts and long-gone channels); tick frames are kept
 * at least as long as the longest window (the pipeline removes what leaves a window by reading
 * them), and so are the market lists they name. The wire server has no TTL indexes, so this runs as an hourly job; it is idempotent, so
 * replicas need no lease. Documents of the layouts before tick frames (hourly sample blocks,
 * per-market statistics) are deleted: nothing reads them.
 */
import type { Config } from '../config.js';
import { marketStats } from '../db/collections.js';
import { CollectorRun, Sample, SampleBlock } from '../db/models/index.js';
import { pruneRetained, type RetentionResult } from '../db/retention.js';
import { WINDOWS } from './metrics.js';
import { pruneFrameLists, pruneFrames } from './pipeline/frames.js';
import { VERSION_ID } from './pipeline/stats-store.js';

export interface PruneResult extends RetentionResult {
  samples: number;
  runs: number;
  frames: number;
  lists: number;
  cutoff: Date;
}

const FRAME_MARGIN_MS = 3_600_000;

export async function pruneSamples(config: Config, now = new Date()): Promise<PruneResult> {
  const cutoff = new Date(now.getTime() - config.market.retentionMs);
  const frameCutoff = new Date(
    now.getTime() - Math.max(config.market.retentionMs, Math.max(...Object.values(WINDOWS))) - FRAME_MARGIN_MS,
  );
  const samples = await Sample.deleteMany({ ts: { $lt: cutoff } });
  const runs = await CollectorRun.deleteMany({ tick: { $lt: cutoff } });
  const frames = await pruneFrames(frameCutoff);
  const lists = await pruneFrameLists(frameCutoff);
  await SampleBlock.deleteMany({});
  await marketStats().deleteMany({ kind: { $exists: false }, _id: { $ne: VERSION_ID } });
  // Alerts and long-gone channels have retentions of their own (src/db/retention.ts).
  const retained = await pruneRetained(now);
  return { samples: samples.deletedCount, runs: runs.deletedCount, frames, lists, cutoff, ...retained };
}
