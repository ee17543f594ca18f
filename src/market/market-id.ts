/**
 * Market ids. The canonical id is `exchange:base-quote` in lower case with XBT written BTC
 * (`kraken:btc-usd`, `sim:eth-usd`). Users type many forms (`btc-usd`, `BTC/USD`, `btcusd`,
 * `xbt-usd`, `kraken:btc-usd`, `kraken:XBTUSD`); every one normalises to an alias stored on the
 * market, so resolution is one exact lookup.
 */

/** Assets whose exchange codes differ from the names people use. */
const ASSET_NAMES: Record<string, string> = {
  xbt: 'btc',
  xdg: 'doge',
  xxbt: 'btc',
  xeth: 'eth',
  zusd: 'usd',
  zeur: 'eur',
};

export function normaliseAsset(code: string): string {
  const lower = code.trim().toLowerCase();
  return ASSET_NAMES[lower] ?? lower;
}

export function canonicalId(exchange: string, base: string, quote: string): string {
  return `${exchange.toLowerCase()}:${normaliseAsset(base)}-${normaliseAsset(quote)}`;
}

/**
 * Lower-cases and turns `/`, `_`, spaces into `-`; strips anything that is not part of an id.
 * `btc-usd@binance` is written `binance:btc-usd`.
 */
export function normaliseInput(text: string): string {
  const flat = text
    .trim()
    .toLowerCase()
    .replace(/[\s/_]+/g, '-')
    .replace(/[^a-z0-9:.@-]/g, '')
    .slice(0, 64);
  const at = /^([^@:]+)@([a-z0-9.-]+)$/.exec(flat);
  return at ? `${at[2]}:${at[1]}` : flat.replace(/@/g, '');
}

/** Every form a user may type for this market, normalised. */
export function aliasesFor(
  exchange: string,
  base: string,
  quote: string,
  symbol?: string | readonly string[],
): string[] {
  const ex = exchange.toLowerCase();
  const b = normaliseAsset(base);
  const q = normaliseAsset(quote);
  const bases = b === 'btc' ? ['btc', 'xbt'] : b === 'doge' ? ['doge', 'xdg'] : [b];
  const out = new Set<string>();
  for (const bb of bases) {
    for (const pair of [`${bb}-${q}`, `${bb}${q}`]) {
      out.add(pair);
      out.add(`${ex}:${pair}`);
    }
  }
  // A source may name a pair several ways (Kraken: `XXBTZUSD`, `XBTUSD`, `XBT/USD`).
  for (const name of typeof symbol === 'string' ? [symbol] : (symbol ?? [])) {
    const s = normaliseInput(name);
    if (!s) continue;
    out.add(s);
    out.add(`${ex}:${s}`);
  }
  return [...out];
}

/** Edit distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Levenshtein distance if it is at most `max`, else `max + 1`, computing only the diagonal band of
 * width 2*max+1 and stopping once a whole row exceeds `max`: O(max * length) instead of O(a * b).
 */
export function editDistanceWithin(a: string, b: string, max: number): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const big = max + 1;
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j <= max ? j : big;
  for (let i = 1; i <= a.length; i++) {
    const from = Math.max(1, i - max);
    const to = Math.min(b.length, i + max);
    cur.fill(big);
    cur[0] = i <= max ? i : big;
    let rowMin = cur[0];
    for (let j = from; j <= to; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur[j] = Math.min(v, big);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return big;
    [prev, cur] = [cur, prev];
  }
  return Math.min(prev[b.length]!, big);
}
