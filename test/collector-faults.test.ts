import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { CollectorRun, CollectorState, Sample } from '../src/db/models/index.js';
import { initLogger } from '../src/logger.js';
import { collectTick } from '../src/market/collect/index.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import { FakeKraken } from './support/fake-kraken.js';
import { FakeCryptowatch } from './support/fake-cryptowatch.js';

useTestDatabase('collector_faults');

const T = Date.UTC(2026, 0, 1, 12, 0);
const min = (n: number) => new Date(T + n * 60_000);
let kraken: FakeKraken;
let cw: FakeCryptowatch;
const config = () =>
  loadConfig({
    MARKET_SOURCE: 'kraken',
    KRAKEN_API_URL: kraken.url,
    CRYPTOWATCH_API_URL: cw.url,
    SOURCE_REQUEST_GAP: '1ms',
    SOURCE_TIMEOUT: '500ms',
    LOG_LEVEL: 'silent',
  });
const quick = { owner: 'a', backoffMs: 10, backfillMaxMs: 0 };

before(async () => {
  initLogger(loadConfig({ LOG_LEVEL: 'silent' }));
  kraken = await FakeKraken.start();
  cw = await FakeCryptowatch.start();
});
after(async () => {
  await kraken.stop();
  await cw.stop();
});
beforeEach(async () => {
  await clearDatabase();
  kraken.clearFaults();
  cw.clearFaults();
});

describe('a tick that meets a fault retries within its interval, then succeeds', () => {
  const cases: Array<[string, Parameters<FakeKraken['failNext']>[0], string]> = [
    ['a timeout', { kind: 'timeout' }, 'timeout'],
    ['a 5xx', { kind: 'status', status: 503 }, 'http_5xx'],
    ['malformed JSON', { kind: 'malformed' }, 'malformed'],
    ["Kraken's HTTP 200 rate-limit error", { kind: 'api-error', error: 'EAPI:Rate limit exceeded' }, 'rate_limited'],
    ["Kraken's HTTP 200 service error", { kind: 'api-error', error: 'EService:Unavailable' }, 'http_5xx'],
    ["Kraken's HTTP 200 query error", { kind: 'api-error', error: 'EQuery:Unknown asset pair' }, 'api_error'],
  ];
  for (const [name, fault, kind] of cases) {
    it(name, async () => {
      kraken.failNext(fault, { path: '/0/public/Ticker', times: 2 });
      const result = await collectTick(config(), 'kraken', { tick: min(0), ...quick });
      assert.equal(result.status, 'ok', result.error);
      assert.equal(result.attempts, 3);
      assert.deepEqual(result.sourceErrors, [kind, kind]);
      assert.equal(result.inserted, 4);
      assert.equal(await Sample.countDocuments(), 4);
      const run = await CollectorRun.findOne({ tick: min(0) }).lean();
      assert.equal(run?.status, 'ok');
      assert.equal(run?.attempts, 3);
    });
  }

  it('a 429, waiting as long as Retry-After says', async () => {
    kraken.failNext({ kind: 'rate-limit', retryAfter: '1' }, { path: '/0/public/Ticker' });
    const started = Date.now();
    const result = await collectTick(config(), 'kraken', { tick: min(0), ...quick });
    assert.equal(result.status, 'ok');
    assert.deepEqual(result.sourceErrors, ['rate_limited']);
    assert.ok(Date.now() - started >= 950, `retried after ${Date.now() - started} ms, before Retry-After`);
  });
});

describe('a tick that cannot succeed in time', () => {
  it('gives up at once when Retry-After reaches past its interval, and writes nothing', async () => {
    kraken.failNext({ kind: 'rate-limit', retryAfter: '120' }, { path: '/0/public/Ticker' });
    const result = await collectTick(config(), 'kraken', { tick: min(0), ...quick });
    assert.equal(result.status, 'failed');
    assert.equal(result.errorKind, 'rate_limited');
    assert.equal(result.attempts, 1);
    assert.match(result.error ?? '', /Retry-After 120 s/);
    assert.equal(await Sample.countDocuments(), 0);
    assert.equal((await CollectorRun.findOne({ tick: min(0) }).lean())?.status, 'failed');
  });

  it('is recorded as failed after retries, and the next tick backfills it', async () => {
    kraken.failNext({ kind: 'status', status: 500 }, { path: '/0/public/Ticker', times: 1_000 });
    const failed = await collectTick(config(), 'kraken', { tick: min(0), ...quick, deadline: Date.now() + 300 });
    assert.equal(failed.status, 'failed');
    assert.ok(failed.attempts > 1);
    kraken.clearFaults();
    await collectTick(config(), 'kraken', { tick: min(-1), ...quick });
    kraken.now = min(1).getTime() + 2_000;
    const next = await collectTick(config(), 'kraken', { tick: min(1), owner: 'a', backoffMs: 10 });
    assert.equal(next.status, 'ok');
    assert.equal(next.backfilled, 4, 'the failed tick is rebuilt from candles');
    assert.equal(await Sample.countDocuments({ ts: min(0) }), 4);
    const record = await CollectorRun.findOne({ tick: min(0) }).lean();
    assert.equal(record?.status, 'ok', 'rebuilt, so not missed again');
    assert.equal(record?.backfilled, 4);
    assert.ok(record?.errorKind && record.errorKind !== 'gap', 'its record keeps what went wrong at the time');
  });

  it('a tick whose sample write fails is not recorded as collected, and the next tick backfills it', async () => {
    await collectTick(config(), 'kraken', { tick: min(-1), ...quick });
    // A unique index of another key than {market, ts}: the database refuses every row of the next
    // tick, a real write failure after a fetch that went well.
    await Sample.collection.createIndex({ market: 1, source: 1 }, { unique: true, name: 'one_per_market' });
    const failed = await collectTick(config(), 'kraken', { tick: min(0), ...quick });
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /one_per_market/);
    assert.equal(await Sample.countDocuments({ ts: min(0) }), 0);
    const state = await CollectorState.findById('kraken').lean();
    assert.equal(state?.tick?.getTime(), min(-1).getTime(), 'the state still ends at the last tick written');
    await Sample.collection.dropIndex('one_per_market');
    kraken.now = min(1).getTime() + 2_000;
    const next = await collectTick(config(), 'kraken', { tick: min(1), owner: 'a', backoffMs: 10 });
    assert.equal(next.status, 'ok');
    assert.equal(next.backfilled, 4, 'the tick whose write failed is rebuilt from candles');
    assert.equal(await Sample.countDocuments({ ts: min(0) }), 4);
    assert.equal((await CollectorRun.findOne({ tick: min(0) }).lean())?.status, 'ok');
  });

  it('writes what a partial answer had, as partial, when the missing pairs never come', async () => {
    kraken.failNext({ kind: 'partial', drop: ['XETHZUSD'] }, { path: '/0/public/Ticker', times: 1_000 });
    const result = await collectTick(config(), 'kraken', { tick: min(0), ...quick, deadline: Date.now() + 200 });
    assert.equal(result.status, 'partial');
    assert.equal(result.inserted, 3);
    assert.equal(result.errorKind, 'partial');
    assert.ok(result.attempts > 1, 'retried first');
    assert.match(result.error ?? '', /kraken:eth-usd/);
    assert.equal(await Sample.countDocuments({ market: 'kraken:eth-usd' }), 0);
  });

  it('does not retry a 4xx from a Cryptowatch-format API, and says what the API said', async () => {
    cw.failNext({ kind: 'api-error', error: 'Invalid API key' });
    const result = await collectTick(config(), 'cryptowatch', { tick: min(0), ...quick });
    assert.equal(result.status, 'failed');
    assert.equal(result.attempts, 1);
    assert.equal(result.errorKind, 'http_4xx');
    assert.match(result.error ?? '', /Invalid API key/);
  });

  it('stops on cancel while waiting to retry, without writing', async () => {
    kraken.failNext({ kind: 'status', status: 503 }, { path: '/0/public/Ticker', times: 1_000 });
    const controller = new AbortController();
    const pending = collectTick(config(), 'kraken', {
      tick: min(0),
      ...quick,
      backoffMs: 5_000,
      signal: controller.signal,
    });
    // Cancel once the first attempt has failed.
    const deadline = Date.now() + 5_000;
    while (kraken.requestsTo('/0/public/Ticker') === 0 && Date.now() < deadline)
      await new Promise((r) => setImmediate(r));
    controller.abort();
    const result = await pending;
    assert.equal(result.status, 'failed');
    assert.equal(result.errorKind, 'cancelled');
    assert.equal(await Sample.countDocuments(), 0);
  });
});
