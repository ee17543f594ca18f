/**
 * The market catalog: upserts what sources report, and resolves what users type to one market.
 * Resolution reads an in-process alias map, refreshed when it is older than a few seconds or on a
 * miss, so a hot path (API, chat) costs no database round trip per request.
 *
 * An unknown name is compared with the aliases for suggestions on the main thread, where Slack's
 * acknowledgements and /healthz wait too, so that cost is bounded: only aliases within a few edits
 * in length are compared, each comparison stops once it is past the limit, a lookup stops after a
 * fixed amount of work, and recent misses are remembered until the catalog is next loaded.
 */
import { Market, Sample } from '../db/models/index.js';
import { UserError } from '../errors.js';
import { aliasesFor, canonicalId, editDistanceWithin, normaliseInput } from './market-id.js';

export interface CatalogEntry {
  id: string;
  exchange: string;
  base: string;
  quote: string;
  source: string;
  symbol: string;
  aliases: string[];
  active: boolean;
  /** Set when the name typed matched several exchanges: which one answers and how to pick another. */
  note?: string;
}

export interface MarketDescriptor {
  exchange: string;
  base: string;
  quote: string;
  source: string;
  symbol: string;
  /** Other names the source uses for the pair; each becomes an alias. */
  names?: readonly string[];
}

/** Adds new markets and refreshes `lastSeen` of known ones; one bulk write. */
export async function upsertMarkets(markets: readonly MarketDescriptor[], now = new Date()): Promise<number> {
  if (markets.length === 0) return 0;
  const ops = markets.map((m) => {
    const id = canonicalId(m.exchange, m.base, m.quote);
    // The pair is what follows the exchange: an exchange name may itself hold a hyphen (coinbase-pro).
    const pair = id.slice(id.indexOf(':') + 1);
    const dash = pair.indexOf('-');
    return {
      updateOne: {
        filter: { _id: id },
        update: {
          $set: {
            exchange: m.exchange.toLowerCase(),
            base: pair.slice(0, dash),
            quote: pair.slice(dash + 1),
            source: m.source,
            symbol: m.symbol,
            aliases: aliasesFor(m.exchange, m.base, m.quote, [m.symbol, ...(m.names ?? [])]),
            active: true,
            lastSeen: now,
          },
          $setOnInsert: { firstSeen: now },
        },
        upsert: true,
      },
    };
  });
  const result = await Market.bulkWrite(ops, { ordered: false });
  cache.loadedAt = 0;
  return result.upsertedCount;
}

interface Cache {
  byAlias: Map<string, CatalogEntry[]>;
  /** Aliases by length, so suggestions compare only names of a near length. */
  byLength: Map<number, string[]>;
  entries: CatalogEntry[];
  loadedAt: number;
  /** Bumped by every load; remembered misses belong to one generation. */
  generation: number;
}

const cache: Cache = { byAlias: new Map(), byLength: new Map(), entries: [], loadedAt: 0, generation: 0 };
const FRESH_MS = 5_000;
/** Suggestions farther than this many edits help nobody, whatever the name's length. */
export const MAX_SUGGEST_DISTANCE = 4;
/** Distance-matrix cells one lookup may compute (about a millisecond); the rest is not searched. */
export const SUGGEST_WORK_LIMIT = 200_000;
/** Unknown names remembered with their suggestions, until the next catalog load. */
const MISS_MEMORY = 1_000;
/** Per miss: the nearest pairs' ids (every exchange of each pair), and whether fewer pairs were near than kept. */
const misses = new Map<string, { generation: number; pairs: string[][]; complete: boolean }>();
let loading: Promise<Cache> | undefined;
/** Suggestion searches run since start (remembered misses excluded): what the miss memory saves shows here. */
let searches = 0;

export function suggestionSearches(): number {
  return searches;
}

async function readCatalog(): Promise<Cache> {
  const docs = await Market.find(
    {},
    { _id: 1, exchange: 1, base: 1, quote: 1, source: 1, symbol: 1, aliases: 1, active: 1 },
  ).lean();
  const entries = docs.map((d) => ({
    id: String(d._id),
    exchange: d.exchange,
    base: d.base,
    quote: d.quote,
    source: d.source,
    symbol: d.symbol,
    aliases: d.aliases ?? [],
    active: d.active ?? true,
  }));
  const byAlias = new Map<string, CatalogEntry[]>();
  for (const e of entries) {
    for (const alias of new Set([e.id, ...e.aliases])) {
      const list = byAlias.get(alias);
      if (list) list.push(e);
      else byAlias.set(alias, [e]);
    }
  }
  const byLength = new Map<number, string[]>();
  for (const alias of byAlias.keys()) {
    const list = byLength.get(alias.length);
    if (list) list.push(alias);
    else byLength.set(alias.length, [alias]);
  }
  cache.byAlias = byAlias;
  cache.byLength = byLength;
  cache.entries = entries;
  cache.loadedAt = Date.now();
  cache.generation += 1;
  misses.clear();
  return cache;
}

/** One read of the catalog at a time: parallel misses share it instead of each reading it. */
function load(): Promise<Cache> {
  loading ??= readCatalog().finally(() => {
    loading = undefined;
  });
  return loading;
}

async function current(): Promise<Cache> {
  return Date.now() - cache.loadedAt < FRESH_MS ? cache : load();
}

/** Drops the cached catalog (tests, and after a source adds markets). */
export function invalidateCatalog(): void {
  cache.loadedAt = 0;
}

/**
 * The order of MARKET_SOURCE, set at boot: when several sources list a pair, the first configured
 * one answers for the bare pair (`btc-usd`).
 */
let sourceOrder: readonly string[] = [];

export function setSourceOrder(sources: readonly string[]): void {
  sourceOrder = [...sources];
}

function sourceRank(source: string): number {
  const i = sourceOrder.indexOf(source);
  return i < 0 ? sourceOrder.length : i;
}

/**
 * Latest 24h quote volume of each candidate (base volume x last where the source gives no quote
 * volume): the tie-break among exchanges of one source. Read only when a bare pair is ambiguous.
 */
async function quoteVolumes(ids: readonly string[]): Promise<Map<string, number>> {
  const latest = await Promise.all(
    ids.map((id) =>
      Sample.findOne({ market: id }, { quoteVolume24h: 1, volume24h: 1, last: 1, _id: 0 })
        .sort({ ts: -1 })
        .lean()
        .catch(() => null),
    ),
  );
  const out = new Map<string, number>();
  ids.forEach((id, i) => {
    const s = latest[i];
    if (!s) return;
    const v = s.quoteVolume24h ?? s.volume24h * s.last;
    if (Number.isFinite(v)) out.set(id, v);
  });
  return out;
}

/**
 * Picks one market for what was typed. The rule, in order: the exact id; an active market over an
 * inactive one; a live exchange over the simulator; the source listed first in MARKET_SOURCE;
 * within one source that lists the pair on several exchanges (a Cryptowatch-format API), the
 * exchange with the highest 24h quote volume; then the id, alphabetically.
 */
async function pick(found: CatalogEntry[], key: string): Promise<CatalogEntry> {
  const exact = found.find((e) => e.id === key);
  if (exact) return exact;
  const byRule = (a: CatalogEntry, b: CatalogEntry) =>
    Number(b.active) - Number(a.active) ||
    Number(a.exchange === 'sim') - Number(b.exchange === 'sim') ||
    sourceRank(a.source) - sourceRank(b.source);
  const sorted = [...found].sort((a, b) => byRule(a, b) || a.id.localeCompare(b.id));
  const first = sorted[0]!;
  const rivals = sorted.filter((e) => byRule(first, e) === 0);
  if (rivals.length > 1) {
    const volumes = await quoteVolumes(rivals.map((e) => e.id));
    rivals.sort((a, b) => (volumes.get(b.id) ?? -1) - (volumes.get(a.id) ?? -1) || a.id.localeCompare(b.id));
  }
  const chosen = rivals[0]!;
  const others = [...new Set(found.filter((e) => e.id !== chosen.id && e.active).map((e) => e.id))];
  if (others.length === 0) return chosen;
  const why =
    rivals.length > 1
      ? `the highest 24h quote volume among the exchanges ${chosen.source} lists it on`
      : found.some((e) => e.active && e.exchange === 'sim') && chosen.exchange !== 'sim'
        ? 'a live exchange before the simulator'
        : `${chosen.source} comes first in MARKET_SOURCE`;
  const also = others.map((id) => `${id.slice(0, id.indexOf(':'))}: use ${id}`).join('; ');
  return {
    ...chosen,
    note: `"${key}" is listed on ${others.length + 1} exchanges; showing ${chosen.id} (${why}). Also on ${also}.`,
  };
}

export async function findMarket(text: string): Promise<CatalogEntry | undefined> {
  const key = normaliseInput(text);
  if (!key) return undefined;
  let c = await current();
  let found = c.byAlias.get(key);
  // A name missed since the last load is not worth another read of the catalog.
  if (!found && Date.now() - c.loadedAt > 1_000 && misses.get(key)?.generation !== c.generation) {
    c = await load();
    found = c.byAlias.get(key);
  }
  return found ? pick(found, key) : undefined;
}

/**
 * Closest known markets to what was typed, best first: the nearest pairs, each with every exchange
 * that lists it (`btc-usd` typed as `btc-usdd` names kraken:btc-usd and binance:btc-usd). Bounded
 * work whatever the input.
 */
export async function suggestMarkets(text: string, limit = 3): Promise<string[]> {
  const key = normaliseInput(text);
  const c = await current();
  const remembered = misses.get(key);
  if (remembered?.generation === c.generation && (remembered.complete || remembered.pairs.length >= limit)) {
    // Refresh its place in the insertion order that eviction follows.
    misses.delete(key);
    misses.set(key, remembered);
    return remembered.pairs.slice(0, limit).flat();
  }
  searches += 1;
  const max = Math.min(MAX_SUGGEST_DISTANCE, Math.max(2, Math.floor(key.length / 3)));
  const scored: Array<{ entry: CatalogEntry; d: number }> = [];
  let work = 0;
  // Nearest lengths first, so a lookup cut short by the work limit has searched the likeliest names.
  search: for (let delta = 0; delta <= max; delta++) {
    for (const length of new Set([key.length - delta, key.length + delta])) {
      for (const alias of c.byLength.get(length) ?? []) {
        if (work > SUGGEST_WORK_LIMIT) break search;
        work += (2 * max + 1) * Math.max(key.length, alias.length);
        const d = editDistanceWithin(key, alias, max);
        if (d <= max) for (const e of c.byAlias.get(alias) ?? []) scored.push({ entry: e, d });
      }
    }
  }
  scored.sort((a, b) => a.d - b.d || a.entry.id.localeCompare(b.entry.id));
  const wanted = Math.max(limit, 3);
  const byPair = new Map<string, string[]>();
  for (const s of scored) {
    const pair = `${s.entry.base}-${s.entry.quote}`;
    let ids = byPair.get(pair);
    if (!ids) {
      if (byPair.size >= wanted) continue;
      ids = [];
      byPair.set(pair, ids);
    }
    if (!ids.includes(s.entry.id)) ids.push(s.entry.id);
  }
  const pairs = [...byPair.values()];
  if (misses.size >= MISS_MEMORY) misses.delete(misses.keys().next().value!);
  misses.set(key, { generation: c.generation, pairs, complete: pairs.length < wanted });
  return pairs.slice(0, limit).flat();
}

/** Resolves what a user typed, or throws a UserError that says what is known instead. */
export async function resolveMarket(text: string): Promise<CatalogEntry> {
  const found = await findMarket(text);
  if (found) return found;
  const shown = normaliseInput(text) || text.slice(0, 40);
  const suggestions = await suggestMarkets(text);
  throw new UserError(
    `Unknown market "${shown}".${suggestions.length ? ` Did you mean ${suggestions.join(', ')}?` : ''}`,
    'Markets are written like btc-usd, BTC/USD, binance:btc-usdt or btc-usdt@binance; /rank lists the tracked ones.',
    404,
  );
}

export async function listMarkets(): Promise<CatalogEntry[]> {
  return (await current()).entries;
}
