/**
 * The market catalog: upserts what sources report, and resolves what users type to one market.
 * Resolution reads an in-process alias map, refreshed when it is older than a few seconds or on a
 * miss, so a hot path (API, chat) costs no database round trip per request.
 */
import { Market, Sample } from '../db/models/index.js';
import { UserError } from '../errors.js';
import { aliasesFor, canonicalId, editDistance, normaliseInput } from './market-id.js';

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
  entries: CatalogEntry[];
  loadedAt: number;
}

const cache: Cache = { byAlias: new Map(), entries: [], loadedAt: 0 };
const FRESH_MS = 5_000;

async function load(): Promise<Cache> {
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
  cache.byAlias = byAlias;
  cache.entries = entries;
  cache.loadedAt = Date.now();
  return cache;
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
  if (!found && Date.now() - c.loadedAt > 1_000) {
    c = await load();
    found = c.byAlias.get(key);
  }
  return found ? pick(found, key) : undefined;
}

/**
 * Closest known markets to what was typed, best first: the nearest pairs, each with every exchange
 * that lists it (`btc-usd` typed as `btc-usdd` names kraken:btc-usd and binance:btc-usd).
 */
export async function suggestMarkets(text: string, limit = 3): Promise<string[]> {
  const key = normaliseInput(text);
  const c = await current();
  const scored: Array<{ entry: CatalogEntry; d: number }> = [];
  for (const [alias, entries] of c.byAlias) {
    const d = editDistance(key, alias);
    if (d <= Math.max(2, Math.floor(key.length / 3))) for (const e of entries) scored.push({ entry: e, d });
  }
  scored.sort((a, b) => a.d - b.d || a.entry.id.localeCompare(b.entry.id));
  const pairs: string[] = [];
  for (const s of scored) {
    const pair = `${s.entry.base}-${s.entry.quote}`;
    if (!pairs.includes(pair)) pairs.push(pair);
    if (pairs.length >= limit) break;
  }
  const ids: string[] = [];
  for (const pair of pairs)
    for (const s of scored)
      if (`${s.entry.base}-${s.entry.quote}` === pair && !ids.includes(s.entry.id)) ids.push(s.entry.id);
  return ids;
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
