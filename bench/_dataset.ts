/**
 * The benchmarks' data set: N markets x M one-minute samples ending at a tick, written as the
 * collector writes them (bulk inserts into `samples`), then brought into the window statistics by
 * the exact rebuild the pipeline runs when it starts without stored statistics. Prices span 0.0001 to 10,000 so raw and
 * relative std dev disagree, as they do between real markets.
 */
import { sampleId } from '../src/market/samples.js';
import { upsertMarkets } from '../src/market/catalog.js';
import { collections } from '../src/db/collections.js';
import type { SampleDoc } from '../src/db/models/index.js';
import { updateWindowStats, type UpdateStatsResult } from '../src/market/window-stats.js';

export interface Dataset {
  markets: string[];
  tick: Date;
  insertMs: number;
  statsMs: number;
  firstPass: UpdateStatsResult;
}

export const marketId = (i: number) => `sim:m${String(i).padStart(4, '0')}-usd`;

export async function loadDataset(opts: {
  markets: number;
  samples: number;
  tick: Date;
  batchMarkets?: number;
}): Promise<Dataset> {
  const { markets, samples, tick } = opts;
  const ids = Array.from({ length: markets }, (_, i) => marketId(i));
  await upsertMarkets(
    ids.map((id) => ({
      exchange: 'sim',
      base: id.slice(4, 9),
      quote: 'usd',
      source: 'simulated',
      symbol: id.slice(4).toUpperCase(),
    })),
  );
  let seed = 2024;
  const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const started = Date.now();
  const batchMarkets = opts.batchMarkets ?? 25;
  for (let first = 0; first < markets; first += batchMarkets) {
    const docs: SampleDoc[] = [];
    for (let i = first; i < Math.min(markets, first + batchMarkets); i++) {
      const market = ids[i]!;
      let price = 10 ** ((i % 9) - 4) * (1 + i / markets);
      const vol = 0.0002 + (i % 17) * 0.0003;
      let cum = 0;
      for (let k = 0; k < samples; k++) {
        price *= Math.exp((rand() - 0.5) * 2 * vol);
        const volumeMinute = k % 97 === 0 ? null : rand() * 10;
        cum += volumeMinute ?? 0;
        const ts = new Date(tick.getTime() - (samples - 1 - k) * 60_000);
        docs.push({
          _id: sampleId(market, ts.getTime()),
          market,
          ts,
          source: 'simulated',
          last: price,
          high: price * 1.02,
          low: price * 0.98,
          changePct: (rand() - 0.5) * 10,
          volume24h: 1_000 + cum,
          quoteVolume24h: (1_000 + cum) * price,
          volumeMinute,
        });
      }
    }
    await collections.samples().insertMany(docs, { ordered: false });
  }
  const insertMs = Date.now() - started;
  const statsStarted = Date.now();
  const firstPass = await updateWindowStats({ tick, source: 'simulated' });
  return { markets: ids, tick, insertMs, statsMs: Date.now() - statsStarted, firstPass };
}

/** Prints the loading figures in the benchmarks' `key: value` form. */
export function printLoad(d: Dataset, samples: number): void {
  const total = d.markets.length * samples;
  console.log(`dataset: ${d.markets.length} markets x ${samples} samples = ${total}`);
  console.log(
    `load samples (bulk inserts): ${(d.insertMs / 1000).toFixed(1)} s ` +
      `(${Math.round(total / (d.insertMs / 1000))} samples/s)`,
  );
  console.log(`first stats pass (blocks + exact statistics of every market): ${(d.statsMs / 1000).toFixed(1)} s`);
}
