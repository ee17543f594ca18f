/**
 * Across exchanges: /compare and GET /api/v1/compare/:pair, rankings limited to one exchange, and
 * /track refusing volume alerts where the source has no exact per-minute volume.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { CommandRegistry, loadRegistry, type CommandContext } from '../src/chat/registry.js';
import { renderConsole } from '../src/chat/render-console.js';
import { Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { invalidateCatalog, setSourceOrder, upsertMarkets } from '../src/market/catalog.js';
import { median } from '../src/market/compare.js';
import { clearQueryCaches } from '../src/market/queries.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { updateWindowStats } from '../src/market/window-stats.js';
import { chatConfig, quietLogs } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';

quietLogs();
useTestDatabase('compare');

// binance's 2,000 markets are more than its weight limit allows candles for at 1 m.
const config = chatConfig({ MARKET_SOURCE: 'kraken,binance,coinbase' });
const ctx: CommandContext = {
  platform: 'console',
  channel: 'console:local',
  user: 'console:local',
  mayManageChannel: true,
  config,
};
const PRICES: Record<string, number> = {
  'kraken:btc-usd': 60_000,
  'coinbase:btc-usd': 60_300,
  'binance:btc-usdt': 59_900,
  'coinbase:btc-usdt': 60_100,
  'kraken:eth-usd': 3_000,
  'binance:eth-usdt': 3_010,
};
let registry: CommandRegistry;
let app: FastifyInstance;
const line = (text: string) => {
  const parsed = CommandRegistry.parseLine(text)!;
  return registry.run(parsed.name, parsed.raw, ctx);
};

before(async () => {
  const ids = Object.keys(PRICES);
  await upsertMarkets(
    ids.map((id) => {
      const [exchange, pair] = id.split(':') as [string, string];
      const [base, quote] = pair.split('-') as [string, string];
      return { exchange, base, quote, source: exchange, symbol: pair };
    }),
  );
  // Binance lists 2,000 spot markets: the catalog count decides its volume plan.
  await upsertMarkets(
    Array.from({ length: 2_000 }, (_, i) => ({
      exchange: 'binance',
      base: `x${i}`,
      quote: 'usdt',
      source: 'binance',
      symbol: `X${i}USDT`,
    })),
  );
  invalidateCatalog();
  setSourceOrder(config.market.sources);
  const last = Math.floor(Date.now() / 60_000) * 60_000;
  const rows: SampleInput[] = [];
  ids.forEach((id, k) => {
    for (let i = 29; i >= 0; i--) {
      const price = PRICES[id]! * (i === 0 ? 1 : 1 + (0.001 * (k + 1) * Math.sin(i)) / 2);
      rows.push({
        market: id,
        ts: new Date(last - i * 60_000),
        source: id.split(':')[0]!,
        last: price,
        high: price,
        low: price,
        changePct: 0,
        volume24h: 100,
        volumeMinute: 1,
      });
    }
  });
  await saveSamples(rows);
  for (const source of ['kraken', 'binance', 'coinbase']) await updateWindowStats({ tick: new Date(last), source });
  clearQueryCaches();
  registry = await loadRegistry(config);
  app = await buildServer({ config });
  await app.ready();
});
after(async () => {
  await app?.close();
  setSourceOrder([]);
});

describe('/compare', () => {
  it('shows the pair on every exchange with its deviation from the median and the spread', async () => {
    const reply = await line('/compare btc-usd');
    assert.equal(reply.title, 'btc-usd on 2 exchanges');
    assert.match(reply.text!, /Cheapest kraken:btc-usd, dearest coinbase:btc-usd: 300 USD apart/);
    const exchanges = reply.fields![0]!.value;
    assert.match(exchanges, /kraken — 60,?000 USD · -0\.25\d*% vs median · cheapest/);
    assert.match(exchanges, /coinbase — 60,?300 USD · \+0\.25\d*% vs median · dearest/);
    assert.doesNotMatch(exchanges, /binance/, 'USDT is another pair');
    assert.match(renderConsole(reply), /btc-usd on 2 exchanges/);
  });

  it('keeps USDT apart, and any exchange-qualified name compares the same pair', async () => {
    const reply = await line('/compare btc-usdt@binance');
    assert.equal(reply.title, 'btc-usdt on 2 exchanges');
    assert.match(reply.fields![0]!.value, /binance — .*cheapest/);
  });

  it('answers GET /api/v1/compare/:pair', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/compare/BTC%2FUSDT' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.pair, 'btc-usdt');
    assert.deepEqual(
      body.rows.map((r: { market: string }) => r.market),
      ['binance:btc-usdt', 'coinbase:btc-usdt'],
    );
    assert.equal(body.median, 60_000);
    assert.ok(Math.abs(body.spreadPct - (200 / 59_900) * 100) < 1e-9);
    assert.ok(Math.abs(body.rows[0].deviationPct + (100 / 60_000) * 100) < 1e-9);
    const missing = await app.inject({ method: 'GET', url: '/api/v1/compare/doge-usd' });
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json().error, /Unknown market "doge-usd"/);
  });

  it('takes the median of an even count as the mean of the middle two', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });
});

describe('rankings by exchange', () => {
  it('/rank binance ranks binance alone and says so; /rank ranks all and names them', async () => {
    const one = await line('/rank binance');
    assert.match(one.title, /· binance$/);
    assert.match(one.text!, /over binance's markets only; 2 markets/);
    const all = await line('/rank');
    assert.match(all.title, /· all exchanges$/);
    assert.match(all.text!, /over all exchanges \(binance, coinbase, kraken\); 6 markets/);
    const named = await line('/rank price 24h rsd 5 exchange=coinbase');
    assert.match(named.text!, /coinbase's markets only; 2 markets/);
    const unknown = await line('/rank binanse');
    assert.equal(unknown.tone, 'error');
    assert.match(unknown.title, /Unknown exchange "binanse"/);
  });

  it('GET /api/v1/rankings?exchange=coinbase', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/rankings?exchange=coinbase' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.exchange, 'coinbase');
    assert.ok(body.top.every((r: { market: string }) => r.market.startsWith('coinbase:')));
    const all = (await app.inject({ method: 'GET', url: '/api/v1/rankings' })).json();
    assert.equal(all.exchange, null);
    assert.deepEqual(all.exchanges, ['binance', 'coinbase', 'kraken']);
  });
});

describe('/track where per-minute volume cannot be had', () => {
  it('refuses a volume alert on binance with the reason, and accepts a price alert', async () => {
    const refused = await line('/track btc-usdt@binance');
    assert.equal(refused.tone, 'error');
    assert.match(
      refused.title,
      /Volume alerts are not available for binance:btc-usdt: .*2002 markets would cost 4084 weight\/min.*list fewer markets/,
    );
    assert.match(refused.text ?? '', /Price alerts still work: \/track binance:btc-usdt price/);
    assert.equal(await Subscription.countDocuments({ market: 'binance:btc-usdt' }), 0);
    const price = await line('/track binance:btc-usdt price');
    assert.equal(price.title, 'Now tracking binance:btc-usdt price in this channel');
    const kraken = await line('/track kraken:btc-usd');
    assert.equal(kraken.title, 'Now tracking kraken:btc-usd volume per minute in this channel');
  });

  it('says which exchange a bare pair tracked and where else it is', async () => {
    const reply = await line('/track btc-usd price');
    assert.match(reply.title, /kraken:btc-usd/);
    assert.match(reply.text!, /kraken comes first in MARKET_SOURCE.*Also on coinbase: use coinbase:btc-usd/);
  });
});
