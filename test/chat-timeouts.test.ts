/**
 * Every outbound chat request has a timeout and is aborted at it: a Slack or Discord post that never
 * answers fails well inside the deliverer's lease, and its connection is closed, not left open.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { DELIVERY_LEASE_MS } from '../src/alerts/deliver.js';
import {
  DISCORD_REST_RETRIES,
  DISCORD_REST_TIMEOUT_MS,
  discordMaxPostMs,
  startDiscord,
  type DiscordAdapter,
} from '../src/chat/discord.adapter.js';
import { loadRegistry } from '../src/chat/registry.js';
import { SLACK_API_TIMEOUT_MS, startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { buildServer } from '../src/http/server.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import {
  FAKE_SLACK_TEAM,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';
import {
  FAKE_APP_ID,
  FAKE_CHANNEL_ID,
  FAKE_GUILD_ID,
  startFakeDiscord,
  type FakeDiscord,
} from './support/fake-discord.js';
import { until } from './support/wait.js';

quietLogs();
useTestDatabase('chat_timeouts');

const SECRET = 'slack-signing-secret-for-tests';
const TIMEOUT = 300;

describe('slack requests time out', () => {
  let fake: FakeSlack;
  let http: FastifyInstance;
  let adapter: SlackAdapter;
  let base: string;

  before(async () => {
    await seedMarkets(new Date(), 60);
    fake = await startFakeSlack();
    const config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: fake.apiUrl,
    });
    http = await buildServer();
    adapter = await startSlack({ config, registry: await loadRegistry(config), http, apiTimeoutMs: TIMEOUT });
    await http.listen({ host: '127.0.0.1', port: 0 });
    const address = http.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await adapter?.stop();
    await http?.close();
    await fake?.close();
  });

  it('the default is well under the 60 s delivery lease', () => {
    assert.ok(SLACK_API_TIMEOUT_MS <= 15_000);
  });

  it('a chat.postMessage that never answers is aborted at the timeout', async () => {
    const before = fake.abortedByClient();
    fake.stallPosts();
    const started = Date.now();
    await assert.rejects(adapter.post(`slack:${FAKE_SLACK_TEAM}:C0ALERTS`, { title: 'alert', text: 'x' }));
    assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
    await until('the stalled post to be closed by the client', () => fake.abortedByClient() > before);
  });

  it('a response_url that never answers is aborted at the timeout', async () => {
    const before = fake.abortedByClient();
    fake.stallPosts();
    const body = slashCommandBody({ command: '/help', text: '', responseUrl: fake.responseUrl('stalled') });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    await until('the stalled response to be closed by the client', () => fake.abortedByClient() > before);
  });
});

describe('discord requests time out', () => {
  let fake: FakeDiscord;
  let adapter: DiscordAdapter;

  before(async () => {
    fake = await startFakeDiscord();
    const config = chatConfig({
      DISCORD_TOKEN: 'fake-discord-token',
      DISCORD_APPLICATION_ID: FAKE_APP_ID,
      DISCORD_API_URL: fake.apiUrl,
    });
    adapter = await startDiscord({ config, registry: await loadRegistry(config), restTimeoutMs: TIMEOUT });
  });
  after(async () => {
    await adapter?.stop();
    await fake?.close();
  });

  it('the worst alert post, chart render, upload and fallback post with their retries, is under the lease', () => {
    assert.equal(discordMaxPostMs(true), 5_000 + 2 * DISCORD_REST_TIMEOUT_MS * (DISCORD_REST_RETRIES + 1));
    assert.ok(discordMaxPostMs(true) < DELIVERY_LEASE_MS, `${discordMaxPostMs(true)} ms`);
    assert.equal(adapter.maxPostMs, discordMaxPostMs(false, TIMEOUT));
  });

  it('a channel post that never answers is aborted at the timeout, tried once more, and then given up', async () => {
    const before = fake.abortedByClient();
    fake.stallChannelPosts(DISCORD_REST_RETRIES + 1);
    const started = Date.now();
    await assert.rejects(adapter.post(`discord:${FAKE_GUILD_ID}:${FAKE_CHANNEL_ID}`, { title: 'alert', text: 'x' }));
    const took = Date.now() - started;
    assert.ok(took >= TIMEOUT * (DISCORD_REST_RETRIES + 1) - 50, `gave up after ${took} ms`);
    assert.ok(took < adapter.maxPostMs! + 2_000, `gave up after ${took} ms, bound ${adapter.maxPostMs} ms`);
    await until(
      'both stalled requests to be closed by the client',
      () => fake.abortedByClient() - before === DISCORD_REST_RETRIES + 1,
    );
  });
});
