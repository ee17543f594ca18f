import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDiscord, type DiscordAdapter } from '../src/chat/discord.adapter.js';
import { registerDiscordCommands } from '../src/chat/discord-register.js';
import { loadRegistry } from '../src/chat/registry.js';
import { ChannelGoneError, RateLimitedError } from '../src/chat/platform.js';
import { Subscription } from '../src/db/models/index.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import {
  FAKE_APP_ID,
  FAKE_CHANNEL_ID,
  FAKE_GUILD_ID,
  startFakeDiscord,
  type FakeDiscord,
} from './support/fake-discord.js';

quietLogs();
useTestDatabase('chat_discord');

const STRING = 3;

describe('discord adapter against a local REST API and gateway', () => {
  let fake: FakeDiscord;
  let adapter: DiscordAdapter;

  before(async () => {
    await seedMarkets(new Date(), 180);
    fake = await startFakeDiscord();
    const config = chatConfig({
      DISCORD_TOKEN: 'fake-discord-token',
      DISCORD_APPLICATION_ID: FAKE_APP_ID,
      DISCORD_API_URL: fake.apiUrl,
    });
    adapter = await startDiscord({ config, registry: await loadRegistry(config) });
  });
  after(async () => {
    await adapter?.stop();
    await fake?.close();
  });

  it('identifies over the gateway with the token and the Guilds intent', async () => {
    const who = await fake.ready();
    assert.equal(who.token, 'fake-discord-token');
    assert.equal(who.intents & 1, 1);
  });

  it('defers a slash command first, then edits the reply into an embed', async () => {
    const { id, token } = fake.slashCommand('track', [{ name: 'market', type: STRING, value: 'btc-usd' }]);
    const callback = await fake.waitForCallback(id);
    assert.equal((callback.body as { type: number }).type, 5, 'deferred channel message');
    const edit = await fake.waitForEdit(token);
    assert.match(edit.path, /\/messages\/%40original$/);
    const embed = (edit.body as { embeds: Array<{ title: string }> }).embeds[0]!;
    assert.match(embed.title, /Now tracking kraken:btc-usd volume per minute/);
    const sub = await Subscription.findOne({
      channel: `discord:${FAKE_GUILD_ID}:${FAKE_CHANNEL_ID}`,
      market: 'kraken:btc-usd',
    }).lean();
    assert.equal(sub?.metric, 'volume');
    assert.equal(sub?.createdBy, 'discord:400000000000000001');
    // The callback comes before the edit: acknowledged within Discord's 3 s before any work.
    assert.ok(fake.http.requests.indexOf(callback) < fake.http.requests.indexOf(edit));
  });

  it('answers a user error privately: the public placeholder is deleted and an ephemeral follow-up sent', async () => {
    const { token } = fake.slashCommand('track', [{ name: 'market', type: STRING, value: 'btc-usdx' }]);
    const followUp = await fake.waitForFollowUp(token);
    const body = followUp.body as { flags: number; embeds: Array<{ title: string; description?: string }> };
    assert.equal(body.flags & 64, 64);
    assert.match(body.embeds[0]!.title, /Unknown market "btc-usdx". Did you mean .*kraken:btc-usd/);
    assert.ok(fake.http.find((r) => r.method === 'DELETE' && r.path.includes(token)).length === 1);
  });

  it('refuses /track to a member without Manage Channels', async () => {
    const { token } = fake.slashCommand('track', [{ name: 'market', type: STRING, value: 'eth-eur' }], {
      permissions: 0n,
    });
    const followUp = await fake.waitForFollowUp(token);
    assert.match(JSON.stringify(followUp.body), /You may not change what this channel tracks/);
    assert.equal(await Subscription.countDocuments({ market: 'kraken:eth-eur' }), 0);
  });

  it('autocompletes market names from the catalog', async () => {
    const { id } = fake.autocomplete('metric', [{ name: 'market', type: STRING, value: 'eth', focused: true }]);
    const callback = await fake.waitForCallback(id);
    const body = callback.body as { type: number; data: { choices: Array<{ name: string; value: string }> } };
    assert.equal(body.type, 8);
    assert.deepEqual(
      body.data.choices.map((c) => c.value),
      ['kraken:eth-eur'],
    );
  });

  it('routes a button click to the action registry', async () => {
    const { token } = fake.button('track|kraken:sol-usd');
    const edit = await fake.waitForEdit(token);
    assert.match(JSON.stringify(edit.body), /Now tracking kraken:sol-usd/);
  });

  it('posts alerts to a channel and maps 429 and channel-gone answers for the deliverer', async () => {
    const channel = `discord:${FAKE_GUILD_ID}:${FAKE_CHANNEL_ID}`;
    const ok = await adapter.post(channel, { title: 'Spike', text: 'volume 5x' });
    assert.match(ok.ref, new RegExp(`^${FAKE_CHANNEL_ID}:\\d+$`));
    const posted = fake.channelPosts(FAKE_CHANNEL_ID).at(-1)!.body as {
      embeds: Array<{ title: string }>;
      allowed_mentions: unknown;
    };
    assert.equal(posted.embeds[0]!.title, 'Spike');
    assert.deepEqual(posted.allowed_mentions, { parse: [] });

    fake.failChannelPost('rate-limit', 7);
    const before429 = fake.channelPosts().length;
    const limited = await adapter.post(channel, { title: 'x' }).catch((e: unknown) => e);
    assert.ok(limited instanceof RateLimitedError, String(limited));
    assert.ok(limited.retryAfterMs >= 7_000 && limited.retryAfterMs < 8_000, String(limited.retryAfterMs));
    assert.equal(fake.channelPosts().length, before429 + 1, 'the library did not retry on its own');

    fake.failChannelPost('unknown-channel');
    assert.ok(
      (await adapter.post('discord:1:999', { title: 'x' }).catch((e: unknown) => e)) instanceof ChannelGoneError,
    );
    // Missing Access and Missing Permissions can be granted: a failure to retry, never "channel gone".
    for (const kind of ['missing-access', 'missing-permissions'] as const) {
      fake.failChannelPost(kind);
      const refused = await adapter.post('discord:1:998', { title: 'x' }).catch((e: unknown) => e);
      assert.ok(refused instanceof Error && !(refused instanceof ChannelGoneError), `${kind}: ${String(refused)}`);
      assert.doesNotMatch(String((refused as Error).message), /tok-|webhooks/, 'only code, status and message');
    }
  });

  it('registers the commands from the same definitions, to one guild or globally', async () => {
    const guild = await registerDiscordCommands(
      chatConfig({
        DISCORD_TOKEN: 't',
        DISCORD_APPLICATION_ID: FAKE_APP_ID,
        DISCORD_GUILD_ID: '42',
        DISCORD_API_URL: fake.apiUrl,
      }),
    );
    assert.equal(guild.scope, 'guild');
    const set = fake.registered().get(`/applications/${FAKE_APP_ID}/guilds/42/commands`) as Array<Record<string, any>>;
    const registry = await loadRegistry(chatConfig());
    assert.deepEqual(
      set.map((c) => c.name),
      registry.list().map((c) => c.name),
    );
    for (const name of ['help', 'metric', 'rank', 'track', 'tracking', 'untrack'])
      assert.ok(
        set.some((c) => c.name === name),
        name,
      );
    const track = set.find((c) => c.name === 'track')!;
    assert.equal(track.default_member_permissions, '16');
    assert.deepEqual(
      track.options.map((o: { name: string; type: number; required: boolean }) => [o.name, o.type, o.required]),
      [
        ['market', 3, true],
        ['metric', 3, false],
        ['factor', 10, false],
        ['cooldown', 3, false],
        ['to', 3, false],
      ],
    );
    assert.equal(track.options[0].autocomplete, true);
    const global = await registerDiscordCommands(
      chatConfig({ DISCORD_TOKEN: 't', DISCORD_APPLICATION_ID: FAKE_APP_ID, DISCORD_API_URL: fake.apiUrl }),
    );
    assert.equal(global.scope, 'global');
    assert.ok(fake.registered().has(`/applications/${FAKE_APP_ID}/commands`));
  });

  it('takes the /track permission from DISCORD_TRACK_PERMISSION', async () => {
    const env = { DISCORD_TOKEN: 't', DISCORD_APPLICATION_ID: FAKE_APP_ID, DISCORD_API_URL: fake.apiUrl };
    const permissionOf = () =>
      (fake.registered().get(`/applications/${FAKE_APP_ID}/commands`) as Array<Record<string, unknown>>).find(
        (c) => c.name === 'track',
      )!.default_member_permissions;
    await registerDiscordCommands(chatConfig({ ...env, DISCORD_TRACK_PERMISSION: 'ManageGuild' }));
    assert.equal(permissionOf(), '32');
    await registerDiscordCommands(chatConfig({ ...env, DISCORD_TRACK_PERMISSION: 'everyone' }));
    assert.equal(permissionOf(), undefined);
    await assert.rejects(
      registerDiscordCommands(chatConfig({ ...env, DISCORD_TRACK_PERMISSION: 'ManageChanels' })),
      /"ManageChanels" is not a Discord permission/,
    );
  });
});
