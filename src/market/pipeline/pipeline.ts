/**
 * The tick pipeline of one source, run by its long-lived worker (jobs/collect-markets.ts): one
 * pass per tick over the quotes in hand.
 *
 *   collect (fetch, normalise, write samples + frame, backfill)  -> src/market/collect.ts
 *   fold the tick into every market's window statistics          -> window-book.ts
 *   judge every rule: spikes against the baseline hour, levels    -> src/alerts/detect.ts
 *   against their state, moves against a frame one window ago, outbox
 *   store the statistics (29 documents)                          -> stats-store.ts
 *
 * Nothing the tick wrote is read back: the values leaving each window come from the frame of one
 * window ago (cached between ticks), the spike baselines from the 1h window, a move's reference
 * price from the cached frames or one read of the frames one window ago. The rules themselves are
 * kept in memory and reloaded only when their version moved (RuleCache). The book is rebuilt
 * from the database when the worker starts and when it takes the lease over (docs/scaling.md).
 */
import type { Config, SourceName } from '../../config.js';
import { log } from '../../logger.js';
import { collectTickRows, type TickOptions, type TickResult } from '../collect/index.js';
import {
  RuleCache,
  decidePoint,
  emptyDetectResult,
  mutedChannels,
  writeDecisions,
  type DetectResult,
  type Pair,
} from '../../alerts/detect.js';
import { referenceTicks } from '../../alerts/rules/move.js';
import { METRIC_ORDER, WINDOWS, type MetricName } from '../metrics.js';
import { createSource } from '../sources/index.js';
import type { MarketSource } from '../sources/types.js';
import { RETURN_MAX_GAP_MS } from '../stats.js';
import { readRows } from '../window-stats.js';
import { WIDTH, gridTicks, readFrames, type Frame } from './frames.js';
import { loadBook, rebuildBook, saveBook } from './stats-store.js';
import { setExact, type WindowBook } from './window-book.js';

const HOUR = 3_600_000;
const WINDOW_LIST = Object.values(WINDOWS);
const LONGEST = Math.max(...WINDOW_LIST);
const SHORTEST = Math.min(...WINDOW_LIST);
/** Every market is recomputed exactly from its samples about this often, within the per-tick budget. */
const EXACT_EVERY_MS = HOUR;
/** The share of the interval a tick may spend on exact recomputes (at least one market per tick). */
const EXACT_BUDGET = 0.03;

export interface StatsFigures {
  /** How the book was had this tick: kept in memory, loaded from the database, or rebuilt exactly. */
  book: 'memory' | 'loaded' | 'rebuilt' | 'none';
  markets: number;
  valuesAdded: number;
  valuesRemoved: number;
  framesRead: number;
  exact: number;
  bookBytes: number;
  /** Milliseconds each step took: edges read, fold, judge (with the outbox write), exact recompute, store. */
  phases: { edges: number; fold: number; judge: number; exact: number; store: number };
  durationMs: number;
}

export interface PipelineTickResult {
  result: TickResult;
  stats?: StatsFigures;
  detect?: DetectResult;
  /** Milliseconds from the tick's boundary until its alerts were in the outbox. */
  alertsAtMs?: number;
}

export interface PipelineOptions {
  owner: string;
  source?: MarketSource;
  /** Markets recomputed exactly per tick at most (default: enough for an hourly rotation). */
  exactPerTick?: number;
}

export class Pipeline {
  private book: WindowBook | undefined;
  private readonly frames = new Map<number, Frame>();
  private readonly rules: RuleCache;
  private readonly source: MarketSource;
  private readonly interval: number;
  private readonly logger;

  constructor(
    private readonly config: Config,
    private readonly sourceName: SourceName,
    private readonly options: PipelineOptions,
  ) {
    this.source = options.source ?? createSource(sourceName, config);
    this.interval = config.market.intervalMs;
    this.logger = log('pipeline', { source: sourceName });
    this.rules = new RuleCache({ defaultFactor: config.alerts.factor });
  }

  /** Times the alert rules were read whole (the rest of the ticks asked only their version). */
  get ruleLoads(): number {
    return this.rules.loads;
  }

  /** Bytes the in-memory state takes: the book and the cached frames. */
  get memoryBytes(): number {
    let frames = 0;
    for (const f of this.frames.values()) frames += f.values.byteLength;
    return (this.book?.bytes ?? 0) + frames;
  }

  /**
   * One tick. `onCollected` hears the collect step's result as soon as the samples are written,
   * before statistics and detection (the scheduler reports a source's reachability from it).
   */
  async tick(
    tick: Date,
    tickOptions: Pick<TickOptions, 'signal' | 'deadline' | 'backoffMs' | 'maxBackoffMs'> = {},
    onCollected?: (result: TickResult) => void,
  ) {
    const T = tick.getTime();
    // The edges are read while the exchange answers: they do not depend on this tick's data.
    const edges = this.book ? this.prefetchEdges(this.book.asOf, T).catch(() => undefined) : undefined;
    const collected = await collectTickRows(this.config, this.sourceName, {
      ...tickOptions,
      tick,
      owner: this.options.owner,
      source: this.source,
    });
    const out: PipelineTickResult = { result: collected.result };
    onCollected?.(collected.result);
    if (collected.result.status === 'skipped' && collected.result.reason === 'standby') {
      // Another replica collects: what this one holds goes stale; it is rebuilt on takeover.
      this.book = undefined;
      this.frames.clear();
      this.rules.clear();
      return out;
    }
    if (!collected.frame || tickOptions.signal?.aborted) return out;
    await edges;
    const started = Date.now();
    const stats: StatsFigures = {
      book: 'memory',
      markets: 0,
      valuesAdded: 0,
      valuesRemoved: 0,
      framesRead: 0,
      exact: 0,
      bookBytes: 0,
      phases: { edges: 0, fold: 0, judge: 0, exact: 0, store: 0 },
      durationMs: 0,
    };
    let mark = Date.now();
    const step = (name: keyof StatsFigures['phases']) => {
      const now = Date.now();
      stats.phases[name] = now - mark;
      mark = now;
    };
    try {
      const book = await this.ensureBook(T, stats, tickOptions.signal);
      if (book.asOf >= T) {
        stats.markets = book.size;
        return { ...out, stats };
      }
      const added: Frame[] = [collected.frame];
      if (book.asOf < T - this.interval) {
        // Ticks this book has not seen (a takeover, a restart, a backfill): their stored frames.
        const missed = gridTicks(book.asOf, T - this.interval, this.interval);
        const read = await readFrames(this.sourceName, missed);
        stats.framesRead += read.size;
        added.push(...read.values());
      }
      stats.framesRead += await this.loadEdges(book.asOf, T);
      step('edges');
      const { baselines, figures } = book.fold(T, added, this.frames);
      step('fold');
      stats.valuesAdded = figures.added;
      stats.valuesRemoved = figures.removed;
      this.frames.set(T, collected.frame);
      this.forgetFrames(T);

      out.detect = await this.judge(tick, book, baselines);
      out.alertsAtMs = Date.now() - T;
      step('judge');
      stats.exact = await this.recomputeSome(book, T);
      step('exact');
      await saveBook(book);
      step('store');
      stats.markets = book.size;
      stats.bookBytes = book.bytes;
    } catch (err) {
      // The database stays the truth: a failed pass drops the book and the next tick rebuilds it.
      this.book = undefined;
      this.frames.clear();
      this.rules.clear();
      if (tickOptions.signal?.aborted) this.logger.debug({ tick: tick.toISOString() }, 'stopped during statistics');
      else this.logger.error({ err, tick: tick.toISOString() }, 'statistics or detection failed for this tick');
    }
    stats.durationMs = Date.now() - started;
    out.stats = stats;
    return out;
  }

  private async ensureBook(T: number, stats: StatsFigures, signal?: AbortSignal): Promise<WindowBook> {
    if (this.book) return this.book;
    const stored = await loadBook(this.sourceName);
    if (stored && stored.asOf < T && T - stored.asOf < SHORTEST) {
      stats.book = 'loaded';
      this.book = stored;
      return stored;
    }
    if (stored && stored.asOf >= T) {
      stats.book = 'loaded';
      this.book = stored;
      return stored;
    }
    // Nothing usable: exact figures from the samples up to the previous tick; this tick is then
    // folded (and judged) like any other.
    const rebuilt = await rebuildBook(this.sourceName, T - this.interval, signal);
    stats.book = 'rebuilt';
    this.logger.info(
      { markets: rebuilt.book.size, samplesRead: rebuilt.samplesRead, framesWritten: rebuilt.framesWritten },
      'window statistics rebuilt from the stored samples',
    );
    this.book = rebuilt.book;
    this.frames.clear();
    return rebuilt.book;
  }

  /** The frames whose values leave a window between asOf and T, with those just after them. */
  private edgeTicks(asOf: number, T: number): number[] {
    const ticks: number[] = [];
    for (const W of WINDOW_LIST) {
      for (const t of gridTicks(asOf - W, T - W + RETURN_MAX_GAP_MS, this.interval)) {
        if (!this.frames.has(t)) ticks.push(t);
      }
    }
    return ticks;
  }

  private async loadEdges(asOf: number, T: number): Promise<number> {
    const wanted = this.edgeTicks(asOf, T);
    if (wanted.length === 0) return 0;
    const read = await readFrames(this.sourceName, wanted);
    for (const [t, f] of read) this.frames.set(t, f);
    return read.size;
  }

  private async prefetchEdges(asOf: number, T: number): Promise<void> {
    await this.loadEdges(asOf, T);
  }

  /** Keeps only the frames a later tick can still need: at each window's edge, and the newest. */
  private forgetFrames(T: number): void {
    for (const t of this.frames.keys()) {
      const needed = WINDOW_LIST.some((W) => t > T - W && t <= T - W + RETURN_MAX_GAP_MS + 2 * this.interval);
      if (!needed && t !== T) this.frames.delete(t);
    }
  }

  private async judge(
    tick: Date,
    book: WindowBook,
    baselines: Map<string, import('./window-book.js').Baseline[]>,
  ): Promise<DetectResult> {
    const started = performance.now();
    const result = emptyDetectResult(tick);
    const logger = this.logger.child({ tick: tick.toISOString() });
    const pairs = [...(await this.rules.get(logger)).values()].filter((p) => book.slots.has(p.market));
    result.pairs = pairs.length;
    if (pairs.length === 0) return result;
    const muted = await mutedChannels(new Date(tick.getTime() - HOUR));
    const referenceOf = await this.references(pairs, baselines);
    const ctx = {
      minPoints: this.config.alerts.minPoints,
      hysteresis: this.config.alerts.levelHysteresis,
      now: new Date(),
      muted,
      logger,
      referenceOf,
    };
    const alerts: Record<string, unknown>[] = [];
    for (const pair of pairs) {
      const k = METRIC_ORDER.indexOf(pair.metric as MetricName);
      for (const b of baselines.get(pair.market) ?? []) {
        const v = b.values[k]!;
        result.points++;
        decidePoint(
          pair,
          new Date(b.ts),
          Number.isNaN(v) ? null : v,
          { sum: b.sum[k]!, count: b.count[k]! },
          ctx,
          result,
          alerts,
        );
      }
    }
    await writeDecisions(alerts, pairs, result);
    result.durationMs = Math.round(performance.now() - started);
    if (result.alerts)
      logger.info(
        { alerts: result.alerts, spikes: result.spikes, crossings: result.crossings, moves: result.moves },
        'alerts queued',
      );
    return result;
  }

  /**
   * The reference prices the move rules need for this tick's points: the frames at or just before
   * one window ago, from the cache or in one read of the missing ones.
   */
  private async references(
    pairs: readonly Pair[],
    baselines: Map<string, import('./window-book.js').Baseline[]>,
  ): Promise<(market: string, ts: number, windowMs: number) => number | null> {
    const wanted = new Set<number>();
    for (const pair of pairs) {
      for (const sub of pair.subs) {
        if (!sub.move) continue;
        for (const b of baselines.get(pair.market) ?? [])
          for (const t of referenceTicks(b.ts, sub.move.windowMs, this.interval)) wanted.add(t);
      }
    }
    const frames = new Map<number, Frame>();
    const missing: number[] = [];
    for (const t of wanted) {
      const cached = this.frames.get(t);
      if (cached) frames.set(t, cached);
      else missing.push(t);
    }
    if (missing.length) for (const [t, f] of await readFrames(this.sourceName, missing)) frames.set(t, f);
    const price = METRIC_ORDER.indexOf('price');
    const columns = new Map<Frame, Map<string, number>>();
    const columnOf = (f: Frame, market: string) => {
      let index = columns.get(f);
      if (!index) {
        index = new Map(f.markets.map((m, i) => [m, i]));
        columns.set(f, index);
      }
      return index.get(market);
    };
    return (market, ts, windowMs) => {
      for (const t of referenceTicks(ts, windowMs, this.interval)) {
        const f = frames.get(t);
        const col = f ? columnOf(f, market) : undefined;
        if (f === undefined || col === undefined) continue;
        const v = f.values[col * WIDTH + price]!;
        if (Number.isFinite(v)) return v;
      }
      return null;
    };
  }

  /**
   * Recomputes the markets longest without an exact pass from their samples, so rounding in the
   * sliding figures and samples that arrived late cannot drift for long. Bounded per tick in
   * markets and in time (EXACT_BUDGET of the interval).
   */
  private async recomputeSome(book: WindowBook, T: number): Promise<number> {
    const perTick = this.options.exactPerTick ?? Math.max(1, Math.ceil((book.size * this.interval) / EXACT_EVERY_MS));
    if (perTick <= 0) return 0;
    const due: number[] = [];
    for (let slot = 0; slot < book.size; slot++) if (T - book.exactAt[slot]! >= EXACT_EVERY_MS) due.push(slot);
    due.sort((a, b) => book.exactAt[a]! - book.exactAt[b]!);
    const budgetEnd = Date.now() + this.interval * EXACT_BUDGET;
    let done = 0;
    for (const slot of due.slice(0, perTick)) {
      if (done > 0 && Date.now() > budgetEnd) break;
      const market = book.markets[slot]!;
      const from = Math.max(T - LONGEST, Math.max(book.since[slot]!, 0));
      const rows = (await readRows([market], from, T)).get(market) ?? [];
      setExact(book, market, rows, T);
      done++;
    }
    return done;
  }
}
