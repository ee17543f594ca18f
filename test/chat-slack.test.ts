import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/http/server.js';
import { loadRegistry } from '../src/chat/registry.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { ChannelGoneError, RateLimitedError } from '../src/chat/platform.js';
import { Subscription } from '../src/db/models/index.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import {
  FAKE_SLACK_TEAM,
  blockActionBody,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';

quietLogs();
useTestDatabase('chat_slack');

const SECRET = 'slack-signing-secret-for-tests';

describe('slack adapter over HTTP on the main server', () => {
  let fake: FakeSlack;
  let http: FastifyInstance;
  let adapter: SlackAdapter;
  let base: string;
  let n = 0;

  const send = (body: string, headers: Record<string, string>) =>
    fetch(`${base}/slack/events`, { method: 'POST', headers, body });
  const command = async (cmd: string, text: string, opts: { user?: string } = {}) => {
    const id = `r${++n}`;
    const body = slashCommandBody({ command: cmd, text, responseUrl: fake.responseUrl(id), user: opts.user });
    const res = await send(body, signSlackRequest(SECRET, body));
    return { id, res };
  };

  before(async () => {
    await seedMarkets(new Date(), 120);
    fake = await startFakeSlack();
    const config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: fake.apiUrl,
      SLACK_TRACK_ALLOWLIST: 'U0USER,U0ADMIN',
    });
    http = await buildServer();
    adapter = await startSlack({ config, registry: await loadRegistry(config), http });
    await http.listen({ host: '127.0.0.1', port: 0 });
    const address = http.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await adapter?.stop();
    await http?.close();
    await fake?.close();
  });

  it('checks its token with auth.test at start, against the configured Web API', () => {
    assert.equal(adapter.mode, 'http');
    assert.equal(fake.http.find('/api/auth.test').length, 1);
  });

  it('acknowledges a signed slash command at once and answers on response_url', async () => {
    const { id, res } = await command('/track', 'btc-usd volume 5 1h');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '', 'an empty ack: the answer goes to response_url');
    const answer = await fake.waitForResponse(id);
    assert.equal(answer.response_type, 'in_channel');
    const blocks = answer.blocks as Array<{ type: string; text?: { text: string } }>;
    assert.equal(blocks[0]!.type, 'header');
    assert.match(blocks[0]!.text!.text, /Now tracking kraken:btc-usd volume per minute/);
    const sub = await Subscription.findOne({
      channel: `slack:${FAKE_SLACK_TEAM}:C0CHAN`,
      market: 'kraken:btc-usd',
    }).lean();
    assert.deepEqual([sub?.factor, sub?.cooldownMs, sub?.createdBy], [5, 3_600_000, 'slack:U0USER']);
  });

  it('refuses a bad signature and a stale or future timestamp, and runs nothing', async () => {
    const body = slashCommandBody({ command: '/track', text: 'eth-eur', responseUrl: fake.responseUrl('never') });
    const bad = await send(body, { ...signSlackRequest(SECRET, body), 'x-slack-signature': `v0=${'0'.repeat(64)}` });
    assert.equal(bad.status, 401);
    const wrongSecret = await send(body, signSlackRequest('another-secret', body));
    assert.equal(wrongSecret.status, 401);
    const now = Math.floor(Date.now() / 1000);
    const stale = await send(body, signSlackRequest(SECRET, body, now - 6 * 60));
    assert.equal(stale.status, 401);
    const future = await send(body, signSlackRequest(SECRET, body, now + 6 * 60));
    assert.equal(future.status, 401);
    const tampered = await send(body.replace('eth-eur', 'sol-usd'), signSlackRequest(SECRET, body));
    assert.equal(tampered.status, 401);
    assert.equal(await Subscription.countDocuments({ market: { $in: ['kraken:eth-eur', 'kraken:sol-usd'] } }), 0);
    assert.equal(fake.responses('never').length, 0);
  });

  it('answers a user error ephemerally with the usage', async () => {
    const { id } = await command('/track', 'btc-usd volume 0.5');
    const answer = await fake.waitForResponse(id);
    assert.equal(answer.response_type, 'ephemeral');
    const text = JSON.stringify(answer.blocks);
    assert.match(text, /factor: expected a number from 1.01 to 1000, got \\"0.5\\"/);
    assert.match(text, /Usage: \/track &lt;market&gt; \[metric\] \[factor\] \[cooldown\]/);
  });

  it('lets only allow-listed users change tracking', async () => {
    const { id } = await command('/untrack', 'btc-usd', { user: 'U0OTHER' });
    assert.match(JSON.stringify(await fake.waitForResponse(id)), /You may not change what this channel tracks/);
    const { id: listed } = await command('/tracking', '', { user: 'U0OTHER' });
    assert.match(
      JSON.stringify(await fake.waitForResponse(listed)),
      /kraken:btc-usd volume spikes over 5x the 1h average, cooldown 1h/,
    );
  });

  it('routes a button click to the action registry', async () => {
    const body = blockActionBody({
      actionId: 'track',
      value: 'kraken:sol-usd',
      responseUrl: fake.responseUrl('click'),
    });
    const res = await send(body, signSlackRequest(SECRET, body));
    assert.equal(res.status, 200);
    const answer = await fake.waitForResponse('click');
    assert.equal(answer.replace_original, false);
    assert.match(JSON.stringify(answer.blocks), /Now tracking kraken:sol-usd/);
  });

  it('answers url_verification', async () => {
    const body = JSON.stringify({ type: 'url_verification', challenge: 'abc123', token: 't' });
    const res = await send(body, { ...signSlackRequest(SECRET, body), 'content-type': 'application/json' });
    assert.deepEqual(await res.json(), { challenge: 'abc123' });
  });

  it('posts alerts with chat.postMessage and maps 429 and channel errors for the deliverer', async () => {
    const ok = await adapter.post(`slack:${FAKE_SLACK_TEAM}:C0ALERTS`, {
      title: 'Spike <!channel>',
      text: 'volume 5x',
    });
    assert.match(ok.ref, /^C0ALERTS:\d+\.\d+$/);
    const post = fake.posts().at(-1)!;
    assert.equal(post.channel, 'C0ALERTS');
    // Plain-text headers are never parsed for mentions; the mrkdwn fallback text must be escaped.
    assert.equal((post.blocks as Array<{ text: { type: string } }>)[0]!.text.type, 'plain_text');
    assert.match(String(post.text), /^Spike &lt;!channel&gt;/, 'no mention can be smuggled in');

    const before429 = fake.posts().length;
    fake.rateLimitPost(9);
    const limited = await adapter.post(`slack:${FAKE_SLACK_TEAM}:C0ALERTS`, { title: 'x' }).catch((e: unknown) => e);
    assert.ok(limited instanceof RateLimitedError, String(limited));
    assert.equal(limited.retryAfterMs, 9_000);
    assert.equal(fake.posts().length, before429 + 1, 'the WebClient did not retry on its own');

    for (const error of ['channel_not_found', 'not_in_channel', 'is_archived']) {
      fake.failPost(error);
      const gone = await adapter.post(`slack:${FAKE_SLACK_TEAM}:C0GONE`, { title: 'x' }).catch((e: unknown) => e);
      assert.ok(gone instanceof ChannelGoneError, `${error}: ${String(gone)}`);
    }
  });
});
