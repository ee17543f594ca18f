/**
 * What one source's next tick needs from its last one (the collector_state document): the tick,
 * the cumulative volume counters per-minute volume is differenced from, and the markets the catalog
 * already has. Written after the tick's samples, so a tick whose samples failed is backfilled.
 */
import { randomUUID } from 'node:crypto';
import { collectorState } from '../../db/collections.js';
import type { Snapshot, SourceMarket } from '../sources/types.js';

export interface PreviousState {
  tick: number;
  cums: Map<string, number | null>;
  markets: Set<string>;
  /** Known markets by the source's symbol. */
  bySymbol: Map<string, SourceMarket>;
  catalogAt: number;
  backfillPending: boolean;
}

/** A market back from its canonical id and symbol (`kraken:btc-usd`, `XXBTZUSD`). */
function marketFromId(id: string, symbol: string): SourceMarket | undefined {
  const colon = id.indexOf(':');
  const dash = id.indexOf('-', colon);
  if (colon < 1 || dash < 0) return undefined;
  return { id, exchange: id.slice(0, colon), base: id.slice(colon + 1, dash), quote: id.slice(dash + 1), symbol };
}

/** The per-market part of a state document: thousands of entries, rewritten (cums) every tick. */
type StateLists = Pick<PreviousState, 'cums' | 'markets' | 'bySymbol'>;

function stateLists(
  markets: readonly string[],
  cums: ReadonlyArray<number | null | undefined>,
  symbols: ReadonlyArray<string | null | undefined>,
): StateLists {
  const map = new Map<string, number | null>();
  const bySymbol = new Map<string, SourceMarket>();
  markets.forEach((m, i) => {
    map.set(m, cums[i] ?? null);
    const symbol = symbols[i];
    const market = symbol ? marketFromId(m, symbol) : undefined;
    if (market) bySymbol.set(symbol!, market);
  });
  return { cums: map, markets: new Set(markets), bySymbol };
}

/**
 * The lists this process last wrote to each source's state document, under the random stamp it
 * wrote with them. While the document still carries that stamp (no other replica wrote since, in
 * the steady state of a lease holder every tick), the next tick reads only the small fields and
 * takes the lists from here: decoding thousands of entries and rebuilding the maps was a fifth of
 * a tick's time before its write. writeState is the only writer of the lists and always sets a new
 * stamp; the document's tick must match too (see loadState).
 */
const lastWritten = new Map<string, { stamp: string; tick: number; lists: StateLists }>();
const SMALL_FIELDS = { projection: { markets: 0, cums: 0, symbols: 0 } };

export async function loadState(source: string): Promise<PreviousState | undefined> {
  const cached = lastWritten.get(source);
  let doc = await collectorState().findOne({ _id: source }, cached ? SMALL_FIELDS : {});
  if (!doc) return undefined;
  let lists: StateLists;
  // The tick as well: a writer that does not know about stamps (an older replica during a rolling
  // update) leaves ours in place, but it writes a later tick.
  if (cached && doc.stamp === cached.stamp && doc.tick.getTime() === cached.tick) {
    lists = cached.lists;
  } else {
    if (cached) {
      // Written by someone else since: the lists must be read after all.
      lastWritten.delete(source);
      doc = await collectorState().findOne({ _id: source });
      if (!doc) return undefined;
    }
    lists = stateLists(doc.markets ?? [], doc.cums ?? [], doc.symbols ?? []);
  }
  return {
    tick: doc.tick.getTime(),
    ...lists,
    catalogAt: doc.catalogAt ? doc.catalogAt.getTime() : 0,
    backfillPending: doc.backfillPending === true,
  };
}

/** Everything writeState needs of the tick. */
export interface StateWrite {
  source: string;
  tick: Date;
  snapshot: Snapshot;
  previous: PreviousState | undefined;
  /** When the catalog was refreshed: now if this tick refreshed it, else the previous time. */
  catalogAt: number;
}

/**
 * Records the tick as the source's last: what the source listed (the markets it answered for, and
 * those it listed but left out this time, so a partial answer does not make them new again; a
 * delisted market drops out) and each market's counter. A re-run of an old tick writes nothing.
 */
export async function writeState({ source, tick, snapshot, previous, catalogAt }: StateWrite): Promise<void> {
  if (previous && previous.tick > tick.getTime()) return;
  const symbolOf = new Map<string, string>();
  for (const [symbol, m] of previous?.bySymbol ?? []) symbolOf.set(m.id, symbol);
  const known = new Map<string, string | null>();
  for (const m of snapshot.markets) known.set(m.id, m.symbol);
  for (const id of snapshot.missing) if (!known.has(id)) known.set(id, symbolOf.get(id) ?? null);
  const cumByMarket = new Map(snapshot.quotes.map((q) => [q.market, q.volumeCum ?? null]));
  const markets = [...known.keys()];
  const cums = markets.map((m) => cumByMarket.get(m) ?? null);
  const stamp = randomUUID();
  const set: Record<string, unknown> = { tick, cums, catalogAt: new Date(catalogAt), stamp };
  // The market list rarely changes; at thousands of markets not rewriting it is worth the check.
  const previousOrder = previous ? [...previous.markets] : [];
  const sameList =
    previousOrder.length === markets.length &&
    markets.every((m, i) => m === previousOrder[i] && previous!.bySymbol.get(known.get(m) ?? '')?.id === m);
  let lists: StateLists;
  if (sameList) {
    // The stored lists stay as they were, so do the maps built from them.
    const cumMap = new Map<string, number | null>();
    markets.forEach((m, i) => {
      cumMap.set(m, cums[i] ?? null);
    });
    lists = { cums: cumMap, markets: previous!.markets, bySymbol: previous!.bySymbol };
  } else {
    const symbols = markets.map((m) => known.get(m) ?? null);
    set.markets = markets;
    set.symbols = symbols;
    lists = stateLists(markets, cums, symbols);
  }
  // Forgotten first: if the write fails after reaching the server, the next tick reads it all.
  lastWritten.delete(source);
  await collectorState().updateOne({ _id: source }, { $set: set }, { upsert: true });
  lastWritten.set(source, { stamp, tick: tick.getTime(), lists });
}

/** Marks (or clears) a backfill cut short, so the next tick looks for missed ticks again. */
export async function setBackfillPending(source: string, pending: boolean): Promise<void> {
  await collectorState().updateOne({ _id: source }, { $set: { backfillPending: pending } });
}
