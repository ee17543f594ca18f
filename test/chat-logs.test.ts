/**
 * Tokens and chart bytes stay out of the logs. A Discord REST error carries the request URL (with
 * the interaction token) and the request body (with the PNG): the adapter logs its code, status and
 * message only, and the scrubber removes webhook tokens from any URL that reaches a line anyway.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDiscord, type DiscordAdapter } from '../src/chat/discord.adapter.js';
import { loadRegistry } from '../src/chat/registry.js';
import { initLogger, makeScrubber } from '../src/logger.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import { FAKE_APP_ID, FAKE_CHANNEL_ID, startFakeDiscord, type FakeDiscord } from './support/fake-discord.js';
import { startFakeQuickChart, type FakeQuickChart } from './support/fake-quickchart.js';
import { until } from './support/wait.js';

useTestDatabase('chat_logs');

const STRING = 3;

describe('the scrubber', () => {
  const scrub = makeScrubber([]);

  it('redacts Discord interaction tokens in any URL', () => {
    assert.equal(
      scrub('PATCH https://discord.com/api/v10/webhooks/1234/aW50ZXJhY3Rpb24.tok-en_9/messages/%40original'),
      'PATCH https://discord.com/api/v10/webhooks/1234/[REDACTED]/messages/%40original',
    );
    assert.equal(
      scrub('{"url":"http://127.0.0.1:9/api/v10/interactions/55/secret.token/callback"}'),
      '{"url":"http://127.0.0.1:9/api/v10/interactions/55/[REDACTED]/callback"}',
    );
  });

  it("redacts Slack's response_url and incoming webhook paths", () => {
    assert.equal(
      scrub('"https://hooks.slack.com/commands/T0001/12345/AbCdEf"'),
      '"https://hooks.slack.com/commands/[REDACTED]"',
    );
    assert.equal(
      scrub('https://hooks.slack.com/services/T0/B0/XYZ rest'),
      'https://hooks.slack.com/services/[REDACTED] rest',
    );
  });
});

describe('discord errors in the logs', () => {
  let fake: FakeDiscord;
  let qc: FakeQuickChart;
  let adapter: DiscordAdapter;
  const lines: string[] = [];

  before(async () => {
    await seedMarkets(new Date(), 180);
    fake = await startFakeDiscord();
    qc = await startFakeQuickChart();
    const config = chatConfig({
      DISCORD_TOKEN: 'fake-discord-token',
      DISCORD_APPLICATION_ID: FAKE_APP_ID,
      DISCORD_API_URL: fake.apiUrl,
      QUICKCHART_URL: qc.url,
      CHART_UPLOAD: 'true',
      LOG_LEVEL: 'warn',
    });
    initLogger(config, { destination: { write: (line: string) => void lines.push(line) } });
    adapter = await startDiscord({ config, registry: await loadRegistry(config) });
  });
  after(async () => {
    await adapter?.stop();
    await fake?.close();
    await qc?.close();
    quietLogs();
  });

  it('a refused chart upload logs code, status and message, never the token or the PNG', async () => {
    fake.http.fail((r) => r.method === 'PATCH' && r.path.includes('/webhooks/'), {
      status: 400,
      body: { message: 'Invalid Form Body', code: 50035 },
    });
    const { token } = fake.slashCommand('metric', [{ name: 'market', type: STRING, value: 'btc-usd' }]);
    await fake.waitForEdit(token, 2);
    const line = await until('the upload warning', () => lines.find((l) => l.includes('discord chart upload failed')));
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.code, 50035);
    assert.equal(entry.status, 400);
    assert.match(String(entry.error), /Invalid Form Body/);
    assert.ok(!line.includes(token), 'the interaction token is not in the line');
    assert.ok(!/PNG|"type":"Buffer"|requestBody/.test(line), 'no request body or PNG bytes in the line');
    assert.ok(line.length < 1_000, `a short line (${line.length} characters)`);
  });

  it('a refused alert post reaches the deliverer without its URL or body', async () => {
    fake.http.fail(
      (r) => r.method === 'POST' && /\/channels\/\d+\/messages$/.test(r.path),
      { status: 400, body: { message: 'Invalid Form Body', code: 50035 } },
      2,
    );
    const reply = { title: 'an alert', text: 'no chart' };
    await assert.rejects(
      adapter.post(`discord:1:${FAKE_CHANNEL_ID}`, reply),
      (err: Error & Record<string, unknown>) => {
        assert.match(err.message, /POST answered 400 50035: Invalid Form Body/);
        assert.equal(err.url, undefined);
        assert.equal(err.requestBody, undefined);
        return true;
      },
    );
  });
});
