/**
 * Tenants and quotas: workspaces and servers off the allow-lists get a clear refusal on the real
 * adapters, and a channel holds at most MAX_SUBSCRIPTIONS_PER_CHANNEL subscriptions.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startDiscord, type DiscordAdapter } from '../src/chat/discord.adapter.js';
import { CommandRegistry, loadRegistry, type CommandContext } from '../src/chat/registry.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import { FAKE_APP_ID, FAKE_GUILD_ID, startFakeDiscord, type FakeDiscord } from './support/fake-discord.js';
import {
  FAKE_SLACK_TEAM,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';

quietLogs();
useTestDatabase('tenants');

const SECRET = 'slack-signing-secret-for-tests';
const STRING = 3;

describe('subscriptions per channel', () => {
  const config = chatConfig({ MAX_SUBSCRIPTIONS_PER_CHANNEL: '2', COMMAND_RATE_LIMIT_PER_MINUTE: '1000' });
  const ctx: CommandContext = {
    platform: 'console',
    channel: 'console:local',
    user: 'console:local',
    mayManageChannel: true,
    config,
  };
  let registry: CommandRegistry;
  const run = (text: string) => {
    const parsed = CommandRegistry.parseLine(text)!;
    return registry.run(parsed.name, parsed.raw, ctx);
  };
  before(async () => {
    await seedMarkets(new Date(), 30);
    registry = await loadRegistry(config);
  });
  beforeEach(() => Subscription.deleteMany({}));

  it('refuses a new subscription beyond the cap, and still updates existing ones', async () => {
    await run('/track btc-usd');
    await run('/track eth-eur');
    const third = await run('/track sol-usd');
    assert.equal(third.ephemeral, true);
    assert.match(third.title, /already tracks 2 markets and metrics, the most it may \(2\)/);
    assert.match(third.text!, /untrack/);
    assert.equal(await Subscription.countDocuments({}), 2);
    const update = await run('/track btc-usd volume 5');
    assert.match(update.title, /Updated tracking of kraken:btc-usd/);
  });

  it('holds under parallel /track and /alert: never more than the cap, and every refusal says why', async () => {
    const metrics = ['price', 'high', 'low', 'change', 'volume', 'volume24h', 'quoteVolume'];
    const lines = [
      ...['btc-usd', 'eth-eur'].flatMap((m) => metrics.map((metric) => `/track ${m} ${metric}`)),
      ...[1, 2, 3, 4].map((i) => `/alert btc-usd above ${100_000 + i}`),
    ];
    const replies = await Promise.all(lines.map(run));
    const held = await Subscription.countDocuments({ channel: ctx.channel });
    assert.ok(held >= 1 && held <= 2, `${held} subscriptions, the cap is 2`);
    const refused = replies.filter((r) => /the most it may \(2\)/.test(r.title));
    assert.equal(refused.length, lines.length - held, 'each command not kept was told the channel is full');
  });
});

describe('tenant allow-lists on the real adapters', () => {
  let slackFake: FakeSlack;
  let discordFake: FakeDiscord;
  let http: FastifyInstance;
  let slack: SlackAdapter;
  let discord: DiscordAdapter;
  let base: string;

  before(async () => {
    await seedMarkets(new Date(), 30);
    slackFake = await startFakeSlack();
    discordFake = await startFakeDiscord();
    const config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slackFake.apiUrl,
      SLACK_TEAM_ALLOWLIST: FAKE_SLACK_TEAM,
      DISCORD_TOKEN: 'fake-discord-token',
      DISCORD_APPLICATION_ID: FAKE_APP_ID,
      DISCORD_API_URL: discordFake.apiUrl,
      DISCORD_GUILD_ALLOWLIST: FAKE_GUILD_ID,
    });
    http = await buildServer();
    const registry = await loadRegistry(config);
    slack = await startSlack({ config, registry, http });
    discord = await startDiscord({ config, registry });
    await http.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(http.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await slack?.stop();
    await discord?.stop();
    await http?.close();
    await slackFake?.close();
    await discordFake?.close();
  });

  const slash = async (id: string, team: string) => {
    const body = slashCommandBody({
      command: '/metric',
      text: 'btc-usd',
      responseUrl: slackFake.responseUrl(id),
      team,
    });
    const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body), body });
    assert.equal(res.status, 200);
    return slackFake.waitForResponse(id);
  };

  it('slack: a workspace on the list is answered, another is refused', async () => {
    assert.doesNotMatch(JSON.stringify(await slash('ours', FAKE_SLACK_TEAM)), /not enabled/);
    const refused = await slash('theirs', 'T0OTHER');
    assert.equal(refused.response_type, 'ephemeral');
    assert.match(JSON.stringify(refused), /This bot is not enabled for this workspace/);
  });

  it('discord: a server on the list is answered, another is refused', async () => {
    const ours = discordFake.slashCommand('metric', [{ name: 'market', type: STRING, value: 'btc-usd' }]);
    assert.doesNotMatch(JSON.stringify((await discordFake.waitForEdit(ours.token)).body), /not enabled/);
    const theirs = discordFake.slashCommand('metric', [{ name: 'market', type: STRING, value: 'btc-usd' }], {
      guildId: '299999999999999999',
    });
    const refusal = await discordFake.waitForFollowUp(theirs.token);
    assert.match(JSON.stringify(refusal.body), /This bot is not enabled for this server/);
  });
});
