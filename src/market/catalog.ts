/**
 * The market catalog: upserts what sources report, and resolves what users type to one market.
 * Resolution reads an in-process alias map, refreshed when it is older than a few seconds or on a
 * miss, so a hot path (API, chat) costs no database round trip per request.
 */
import { Market } from '../db/models/index.js';
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
    return {
      updateOne: {
        filter: { _id: id },
        update: {
          $set: {
            exchange: m.exchange.toLowerCase(),
            base: id.split(':')[1]!.split('-')[0]!,
            quote: id.split('-').slice(1).join('-'),
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

/** Prefers the exact id, then active markets, then live exchanges over the simulator. */
function pick(found: CatalogEntry[], key: string): CatalogEntry {
  return [...found].sort(
    (a, b) =>
      Number(b.id === key) - Number(a.id === key) ||
      Number(b.active) - Number(a.active) ||
      Number(a.exchange === 'sim') - Number(b.exchange === 'sim') ||
      a.id.localeCompare(b.id),
  )[0]!;
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

/** Closest known ids to what was typed, best first. */
export async function suggestMarkets(text: string, limit = 3): Promise<string[]> {
  const key = normaliseInput(text);
  const c = await current();
  const scored: Array<{ id: string; d: number }> = [];
  for (const [alias, entries] of c.byAlias) {
    const d = editDistance(key, alias);
    if (d <= Math.max(2, Math.floor(key.length / 3))) for (const e of entries) scored.push({ id: e.id, d });
  }
  scored.sort((a, b) => a.d - b.d || a.id.localeCompare(b.id));
  return [...new Set(scored.map((s) => s.id))].slice(0, limit);
}

/** Resolves what a user typed, or throws a UserError that says what is known instead. */
export async function resolveMarket(text: string): Promise<CatalogEntry> {
  const found = await findMarket(text);
  if (found) return found;
  const shown = normaliseInput(text) || text.slice(0, 40);
  const suggestions = await suggestMarkets(text);
  throw new UserError(
    `Unknown market "${shown}".${suggestions.length ? ` Did you mean ${suggestions.join(', ')}?` : ''}`,
    'Markets are written like btc-usd, BTC/USD or kraken:btc-usd; /rank lists the tracked ones.',
    404,
  );
}

export async function listMarkets(): Promise<CatalogEntry[]> {
  return (await current()).entries;
}
