/**
 * Alert delivery through the real adapters to the local fakes: digests on Slack, Discord and the
 * console (with buttons that act on each rule, and the per-channel switch), direct messages on
 * Slack and Discord (and a clear refusal when the user cannot be messaged), signed webhooks
 * checked by a local receiver, and exactly-once delivery of each kind across two deliverers.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { PassThrough } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startDeliverer, type Deliverer } from '../src/alerts/deliver.js';
import { startWebhooks } from '../src/alerts/webhook.js';
import { startConsole, type ConsoleAdapter } from '../src/chat/console.adapter.js';
import { startDiscord, type DiscordAdapter } from '../src/chat/discord.adapter.js';
import { loadRegistry } from '../src/chat/registry.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import type { Config } from '../src/config.js';
import { Alert, Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { chatConfig, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import {
  FAKE_APP_ID,
  FAKE_GUILD_ID,
  discordPayload,
  startFakeDiscord,
  type FakeDiscord,
} from './support/fake-discord.js';
import {
  FAKE_SLACK_TEAM,
  blockActionBody,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';
import { until } from './support/wait.js';

useTestDatabase('alerts_delivery');

const SECRET = 'slack-signing-secret-for-tests';
const HOOK_SECRET = 'webhook-secret-0123456789';
const STRING = 3;
const MARKETS = ['kraken:btc-usd', 'kraken:eth-eur', 'kraken:sol-usd'];
const METRICS = ['volume', 'price', 'high'];

/** A webhook receiver that verifies each post's signature as docs/alerts.md says to. */
async function startReceiver() {
  const received: Array<{ body: Record<string, any>; delivery: string; valid: boolean }> = [];
  let failNext = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const timestamp = String(req.headers['x-chatops-timestamp'] ?? '');
      const given = Buffer.from(String(req.headers['x-chatops-signature'] ?? ''));
      const expected = Buffer.from(
        `v1=${createHmac('sha256', HOOK_SECRET).update(`${timestamp}.${raw}`).digest('hex')}`,
      );
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      const valid = fresh && given.length === expected.length && timingSafeEqual(given, expected);
      if (failNext > 0) {
        failNext--;
        res.writeHead(500).end();
        return;
      }
      received.push({ body: JSON.parse(raw), delivery: String(req.headers['x-chatops-delivery']), valid });
      res.writeHead(valid ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  return {
    url,
    received,
    failNext: (n: number) => {
      failNext = n;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** `count` subscriptions in `channel` (market x metric) with one pending alert each, all of one tick. */
async function tickOfAlerts(channel: string, count: number, createdAt = new Date(), ratioBase = 3) {
  const alerts = [];
  for (let i = 0; i < count; i++) {
    const market = MARKETS[i % 3]!;
    const metric = METRICS[Math.floor(i / 3) % 3]!;
    const sub = await Subscription.findOneAndUpdate(
      { channel, market, metric },
      { $setOnInsert: { factor: 3 } },
      { upsert: true, returnDocument: 'after' },
    );
    const ts = new Date(Math.floor(createdAt.getTime() / 60_000) * 60_000);
    alerts.push(
      await Alert.create({
        key: `${String(sub._id)}|${market}|${metric}|${ts.toISOString()}|${createdAt.getTime()}`,
        subscriptionId: sub._id,
        channel,
        market,
        metric,
        ts,
        value: 10 * (ratioBase + i),
        baseline: 10,
        ratio: ratioBase + i,
        factor: 3,
        points: 60,
        createdAt,
      }),
    );
  }
  return alerts;
}

describe('alert delivery through the adapters', () => {
  let slackFake: FakeSlack;
  let discordFake: FakeDiscord;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let config: Config;
  let slack: SlackAdapter;
  let discord: DiscordAdapter;
  let repl: ConsoleAdapter;
  let output = '';
  let base = '';
  let http: Awaited<ReturnType<typeof buildServer>>;
  const input = new PassThrough();
  const running: Deliverer[] = [];
  let n = 0;

  const deliverer = (owner?: string, extra: { batchSize?: number } = {}) => {
    const d = startDeliverer({
      platforms: [slack, discord, repl, startWebhooks(config.webhooks)],
      pollMs: 60_000,
      owner,
      ...extra,
    });
    running.push(d);
    return d;
  };

  const slackCommand = async (command: string, text: string) => {
    const id = `r${++n}`;
    const body = slashCommandBody({ command, text, responseUrl: slackFake.responseUrl(id) });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    return slackFake.waitForResponse(id);
  };

  before(async () => {
    await seedMarkets(new Date(), 120);
    slackFake = await startFakeSlack();
    discordFake = await startFakeDiscord();
    receiver = await startReceiver();
    config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slackFake.apiUrl,
      DISCORD_TOKEN: 'fake-discord-token',
      DISCORD_APPLICATION_ID: FAKE_APP_ID,
      DISCORD_API_URL: discordFake.apiUrl,
      WEBHOOKS: `ops=${receiver.url}`,
      WEBHOOK_SECRETS: `ops=${HOOK_SECRET}`,
    });
    http = await buildServer();
    const registry = await loadRegistry(config);
    slack = await startSlack({ config, registry, http });
    discord = await startDiscord({ config, registry });
    const out = new PassThrough();
    out.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    repl = startConsole({ config, registry, input, output: out, prompt: '' });
    await http.listen({ host: '127.0.0.1', port: 0 });
    const address = http.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  beforeEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()));
    await Alert.deleteMany({});
    await Subscription.deleteMany({});
  });

  after(async () => {
    await Promise.all(running.splice(0).map((d) => d.stop()));
    await repl?.stop();
    await slack?.stop();
    await discord?.stop();
    await http?.close();
    await slackFake?.close();
    await discordFake?.close();
    await receiver?.close();
  });

  it('slack: seven alerts of one tick are one post, strongest first, with a row of buttons per rule', async () => {
    const alerts = await tickOfAlerts(`slack:${FAKE_SLACK_TEAM}:C0DIGEST`, 7);
    const before = slackFake.posts().length;
    await deliverer().deliverNow();
    const posts = slackFake.posts().slice(before);
    assert.equal(posts.length, 1, 'one post for the tick');
    const blocks = posts[0]!.blocks as Array<Record<string, any>>;
    assert.match(blocks[0]!.text.text, /^7 spikes at .* in 3 markets$/);
    const text = blocks.find((b) => b.type === 'section')!.text.text as string;
    const lines = text.split('\n');
    assert.equal(lines.length, 6);
    assert.match(lines[0]!, /^• kraken:btc-usd 24h high: .*9x the 1h average/, 'the strongest (ratio 9) first');
    assert.match(lines[4]!, /5x the 1h average/);
    assert.equal(lines[5], '…and 2 more.');
    const rows = blocks.filter((b) => b.type === 'actions');
    assert.equal(rows.length, 5, 'one actions block per shown rule');
    const strongest = alerts.at(-1)!;
    assert.deepEqual(
      rows[0]!.elements.map((e: Record<string, string>) => e.value),
      Array(3).fill(String(strongest.subscriptionId)),
    );
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 7);

    // Untrack from the digest's first row: that rule goes, the others stay.
    const untrack = rows[0]!.elements[2] as { action_id: string; value: string };
    const body = blockActionBody({
      actionId: untrack.action_id,
      value: untrack.value,
      responseUrl: slackFake.responseUrl('untrack'),
      channel: 'C0DIGEST',
    });
    await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    const answer = await slackFake.waitForResponse('untrack');
    assert.match(String(answer.text), /Stopped tracking kraken:btc-usd 24h high/);
    assert.equal(await Subscription.countDocuments({ channel: `slack:${FAKE_SLACK_TEAM}:C0DIGEST` }), 6);
  });

  it('discord: a digest keeps to five action rows of buttons, each row one rule', async () => {
    const channel = '300000000000000888';
    await tickOfAlerts(`discord:${FAKE_GUILD_ID}:${channel}`, 9);
    await deliverer().deliverNow();
    const posts = discordFake.channelPosts(channel);
    assert.equal(posts.length, 1);
    const message = discordPayload(posts[0]!);
    assert.match(message.embeds[0].title, /^9 spikes/);
    assert.match(message.embeds[0].description, /…and 4 more\.$/);
    assert.equal(message.components.length, 5);
    for (const row of message.components) {
      assert.equal(row.components.length, 3);
      const ids = new Set(row.components.map((b: { custom_id: string }) => b.custom_id.split('|')[1]));
      assert.equal(ids.size, 1, 'one rule per row');
    }
  });

  it('console: a digest, then /tracking digest off posts each alert on its own', async () => {
    const start = output.length;
    await tickOfAlerts('console:local', 4);
    await deliverer().deliverNow();
    const digest = output.slice(start);
    assert.match(digest, /# 4 spikes at/);
    assert.equal((digest.match(/!snooze:1h [0-9a-f]{24}/g) ?? []).length, 4);
    assert.doesNotMatch(digest, /more\./, 'four fit without "and N more"');

    input.write('/tracking digest off\n');
    await repl.idle();
    assert.match(output, /Digests off in this channel/);
    const next = output.length;
    await Alert.deleteMany({});
    await tickOfAlerts('console:local', 3, new Date(Date.now() + 60_000));
    await deliverer().deliverNow();
    const separate = output.slice(next);
    assert.equal((separate.match(/^# Spike: /gm) ?? []).length, 3);
    input.write('/tracking digest on\n');
    await repl.idle();
  });

  it('slack: /track ... dm opens a DM and alerts go there; a user who cannot be messaged is told why', async () => {
    const answer = await slackCommand('/track', 'btc-usd dm');
    assert.match(String(answer.text), /Now tracking kraken:btc-usd volume per minute in your direct messages/);
    const sub = await Subscription.findOne({ direct: true }).lean();
    assert.equal(sub?.channel, `slack:${FAKE_SLACK_TEAM}:D0USER`);
    assert.equal(sub?.requestedIn, `slack:${FAKE_SLACK_TEAM}:C0CHAN`);
    const before = slackFake.posts().length;
    await tickOfAlerts(sub!.channel, 1);
    await deliverer().deliverNow();
    const post = slackFake.posts().slice(before)[0]!;
    assert.equal(post.channel, 'D0USER');

    const listed = await slackCommand('/tracking', '');
    assert.match(String(listed.text), /kraken:btc-usd volume spikes over 3x the 1h average → DM/);
    assert.match(String((await slackCommand('/untrack', 'btc-usd dm')).text), /in your direct messages/);
    assert.equal(await Subscription.countDocuments({ direct: true }), 0);

    slackFake.failOpenDirect('cannot_dm_bot');
    const refused = await slackCommand('/track', 'eth-eur dm');
    assert.match(String(refused.text), /I cannot send you direct messages: the user is a bot/);
    assert.equal(await Subscription.countDocuments({}), 0);
  });

  it('discord: /track ... to dm opens the bot DM channel and alerts go there; closed DMs are refused clearly', async () => {
    const user = '400000000000000055';
    const { token } = discordFake.slashCommand(
      'track',
      [
        { name: 'market', type: STRING, value: 'btc-usd' },
        { name: 'to', type: STRING, value: 'dm' },
      ],
      { userId: user },
    );
    const edit = await discordFake.waitForEdit(token);
    assert.match(discordPayload(edit).embeds[0].title, /in your direct messages/);
    const dmChannel = `9${user.slice(1)}`;
    assert.equal(discordFake.channelPosts(dmChannel).length, 1, 'a hello in the DM checks it can be messaged');
    const sub = await Subscription.findOne({ direct: true }).lean();
    assert.equal(sub?.channel, `discord:@me:${dmChannel}`);
    await tickOfAlerts(sub!.channel, 1);
    await deliverer().deliverNow();
    const alertPost = discordFake.channelPosts(dmChannel)[1]!;
    assert.match(discordPayload(alertPost).embeds[0].title, /^Spike: kraken:btc-usd/);

    discordFake.failChannelPost('cannot-dm');
    const other = '400000000000000066';
    const refused = discordFake.slashCommand(
      'track',
      [
        { name: 'market', type: STRING, value: 'eth-eur' },
        { name: 'to', type: STRING, value: 'dm' },
      ],
      { userId: other },
    );
    const followUp = await discordFake.waitForFollowUp(refused.token);
    assert.match(discordPayload(followUp).embeds[0].title, /I cannot send you direct messages/);
    assert.equal(await Subscription.countDocuments({ createdBy: `discord:${other}` }), 0);
  });

  it('webhook: each alert is POSTed as signed JSON, retried on failure under the same delivery key', async () => {
    const reply = await slackCommand('/track', 'sol-usd webhook:ops');
    assert.match(String(reply.text), /Now tracking kraken:sol-usd volume per minute to webhook ops/);
    const unknown = await slackCommand('/track', 'sol-usd webhook:nope');
    assert.match(String(unknown.text), /No webhook named "nope" is configured/);
    const sub = await Subscription.findOne({ channel: 'webhook:ops' }).lean();
    assert.ok(sub);
    const [a, b] = await tickOfAlerts('webhook:ops', 2);
    receiver.failNext(1);
    const before = receiver.received.length;
    await deliverer(undefined, {}).deliverNow();
    const d = running.at(-1)!;
    await until('both alerts received', async () => {
      await d.deliverNow();
      return receiver.received.length - before >= 2;
    });
    const got = receiver.received.slice(before);
    assert.ok(
      got.every((r) => r.valid),
      'every signature verifies',
    );
    assert.deepEqual(got.map((r) => r.delivery).sort(), [a!.key, b!.key].sort());
    const body = got.find((r) => r.delivery === a!.key)!.body;
    assert.equal(body.type, 'spike');
    assert.equal(body.market, a!.market);
    assert.equal(body.ratio, a!.ratio);
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 2);
  });

  it('exactly once across two deliverers, for channel posts, DMs and webhooks', async () => {
    const slackChannels = Array.from({ length: 6 }, (_, i) => `slack:${FAKE_SLACK_TEAM}:C0ONCE${i}`);
    const dm = 'discord:@me:900000000000000077';
    // Ticks a minute apart, so no two alerts of one channel share a digest.
    for (let t = 0; t < 3; t++) {
      const at = new Date(Date.now() - (3 - t) * 60_000);
      for (const c of slackChannels) await tickOfAlerts(c, 1, at);
      await tickOfAlerts(dm, 1, at, 3 + t);
      await tickOfAlerts('webhook:ops', 1, at, 3 + t);
    }
    const total = await Alert.countDocuments({});
    assert.equal(total, 24);
    const slackBefore = slackFake.posts().length;
    const dmBefore = discordFake.channelPosts('900000000000000077').length;
    const hookBefore = receiver.received.length;
    const one = deliverer('replica-a', { batchSize: 2 });
    const two = deliverer('replica-b', { batchSize: 2 });
    await Promise.all([one.deliverNow(), two.deliverNow()]);
    await until('every alert settled', async () => {
      await Promise.all([one.deliverNow(), two.deliverNow()]);
      return (await Alert.countDocuments({ status: 'sent' })) === total;
    });
    const slackPosts = slackFake.posts().slice(slackBefore);
    assert.equal(slackPosts.length, 18);
    assert.equal(discordFake.channelPosts('900000000000000077').length - dmBefore, 3);
    const hooks = receiver.received.slice(hookBefore);
    assert.equal(hooks.length, 3);
    assert.equal(new Set(hooks.map((h) => h.delivery)).size, 3, 'no webhook alert twice');
    const perChannel = new Map<string, number>();
    for (const p of slackPosts) perChannel.set(String(p.channel), (perChannel.get(String(p.channel)) ?? 0) + 1);
    assert.deepEqual([...perChannel.values()], Array(6).fill(3));
  });
});
