import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseDuration } from '../src/config.js';

describe('config', () => {
  it('boots on defaults with an empty environment', () => {
    const config = loadConfig({});
    assert.equal(config.mongo.uri, undefined);
    assert.deepEqual(config.market.sources, ['kraken']);
    assert.equal(config.market.markets, 'all');
    assert.equal(config.market.intervalMs, 60_000);
    assert.equal(config.http.port, 3000);
    assert.equal(config.market.krakenUrl, 'https://api.kraken.com');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.market));
  });

  it('parses durations, lists and URLs', () => {
    const config = loadConfig({
      COLLECT_INTERVAL: '15s',
      MARKET_SOURCE: 'kraken, simulated,kraken',
      MARKETS: 'btc-usd, eth-usd',
      KRAKEN_API_URL: 'http://127.0.0.1:9999/',
      RETENTION: '2d',
    });
    assert.equal(config.market.intervalMs, 15_000);
    assert.deepEqual(config.market.sources, ['kraken', 'simulated']);
    assert.deepEqual(config.market.markets, ['btc-usd', 'eth-usd']);
    assert.equal(config.market.krakenUrl, 'http://127.0.0.1:9999');
    assert.equal(config.market.retentionMs, 2 * 86_400_000);
    assert.equal(parseDuration('60s'), 60_000);
    assert.equal(parseDuration('1m'), 60_000);
    assert.equal(parseDuration('abc'), undefined);
  });

  it('lists every bad key in one error', () => {
    assert.throws(
      () =>
        loadConfig({
          COLLECT_INTERVAL: 'abc',
          HTTP_PORT: '70000',
          MARKET_SOURCE: 'kraken,nasdaq',
          KRAKEN_API_URL: 'ftp://x',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const keys = err.problems.map((p) => p.split(':')[0]);
        assert.deepEqual(keys.sort(), ['COLLECT_INTERVAL', 'HTTP_PORT', 'KRAKEN_API_URL', 'MARKET_SOURCE']);
        assert.match(err.message, /COLLECT_INTERVAL: expected a duration .* got "abc"/);
        return true;
      },
    );
  });

  it('reads CHART_UPLOAD as a true/false switch, off by default, and refuses anything else', () => {
    assert.equal(loadConfig({}).chartUpload, false);
    for (const on of ['true', 'TRUE', '1', 'yes', 'on'])
      assert.equal(loadConfig({ CHART_UPLOAD: on }).chartUpload, true, on);
    for (const off of ['false', '0', 'no', 'off'])
      assert.equal(loadConfig({ CHART_UPLOAD: off }).chartUpload, false, off);
    assert.throws(() => loadConfig({ CHART_UPLOAD: 'maybe' }), /CHART_UPLOAD: expected true or false, got "maybe"/);
  });

  it('asks for the Slack signing secret in HTTP mode', () => {
    assert.throws(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' }), /SLACK_SIGNING_SECRET/);
    assert.doesNotThrow(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }));
  });

  it('collects secrets, including a password in MONGODB_URI, for the logger', () => {
    const config = loadConfig({
      MONGODB_URI: 'mongodb://bot:s3cr%21et@db.example:27017/x',
      DISCORD_TOKEN: 'discord-token-value',
      DISCORD_APPLICATION_ID: '123',
    });
    assert.ok(config.secrets.includes('s3cr!et'));
    assert.ok(config.secrets.includes('discord-token-value'));
  });
});

describe('metric and window names', async () => {
  const { parseMetric, parseWindow } = await import('../src/market/metrics.js');
  it('accepts names and aliases, and nothing from the object prototype', () => {
    assert.equal(parseMetric('Price'), 'price');
    assert.equal(parseMetric('vol'), 'volume');
    assert.equal(parseMetric('__proto__'), undefined);
    assert.equal(parseMetric('constructor'), undefined);
    assert.equal(parseWindow('1d'), '24h');
    assert.equal(parseWindow('toString'), undefined);
  });
});
