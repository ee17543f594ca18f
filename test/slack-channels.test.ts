/**
 * Slack Connect: one channel has one identity, keyed by the installing workspace, whichever
 * organisation the member who runs a command belongs to; ids written before under another team are
 * moved at start.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Types } from 'mongoose';
import { migrateSlackChannelIds } from '../src/chat/slack-channels.js';
import { loadRegistry } from '../src/chat/registry.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { Alert, Channel, Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import {
  FAKE_SLACK_TEAM,
  signSlackRequest,
  slashCommandBody,
  startFakeSlack,
  type FakeSlack,
} from './support/fake-slack.js';

quietLogs();
useTestDatabase('slack_channels');

const SECRET = 'slack-signing-secret-for-tests';

describe('slack channel ids', () => {
  it('moves ids of another team to the installing team, dropping duplicates', async () => {
    await clearDatabase();
    await Subscription.create({ channel: 'slack:T0GUEST:C1', market: 'kraken:btc-usd', metric: 'volume' });
    await Subscription.create({ channel: 'slack:T0GUEST:C1', market: 'kraken:eth-eur', metric: 'volume' });
    await Subscription.create({ channel: 'slack:T0HOME:C1', market: 'kraken:btc-usd', metric: 'volume', factor: 5 });
    await Channel.create({ _id: 'slack:T0GUEST:C1', mutedUntil: new Date(Date.now() + 3_600_000) });
    await Alert.create({
      key: 'a1',
      subscriptionId: new Types.ObjectId(),
      channel: 'slack:T0GUEST:C1',
      market: 'kraken:btc-usd',
      metric: 'volume',
      ts: new Date(),
      value: 1,
      baseline: 1,
      ratio: 1,
      factor: 3,
      points: 60,
    });
    const moved = await migrateSlackChannelIds('T0HOME');
    assert.deepEqual(moved, { channels: 1, subscriptions: 1, dropped: 1 });
    const subs = await Subscription.find().lean();
    assert.ok(subs.every((s) => s.channel === 'slack:T0HOME:C1'));
    assert.equal(subs.find((s) => s.market === 'kraken:btc-usd')?.factor, 5, "the installing team's copy wins");
    assert.ok((await Channel.findById('slack:T0HOME:C1').lean())?.mutedUntil, 'the mute moved');
    assert.equal((await Alert.findOne().lean())?.channel, 'slack:T0HOME:C1');
    assert.deepEqual(await migrateSlackChannelIds('T0HOME'), { channels: 0, subscriptions: 0, dropped: 0 });
  });

  describe('on the real adapter', () => {
    let fake: FakeSlack;
    let http: FastifyInstance;
    let adapter: SlackAdapter;
    let base: string;
    before(async () => {
      await clearDatabase();
      await seedMarkets(new Date(), 30);
      fake = await startFakeSlack();
      const config = chatConfig({
        SLACK_BOT_TOKEN: 'xoxb-test',
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_API_URL: fake.apiUrl,
      });
      http = await buildServer();
      adapter = await startSlack({ config, registry: await loadRegistry(config), http });
      await http.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${(http.server.address() as { port: number }).port}`;
    });
    after(async () => {
      await adapter?.stop();
      await http?.close();
      await fake?.close();
    });

    it('a member of another organisation tracks in the same channel identity as a local member', async () => {
      for (const [id, team, market] of [
        ['home', FAKE_SLACK_TEAM, 'btc-usd'],
        ['guest', 'T0GUEST', 'eth-eur'],
      ] as const) {
        const body = slashCommandBody({
          command: '/track',
          text: market,
          responseUrl: fake.responseUrl(id),
          team,
          channel: 'C0SHARED',
        });
        const res = await fetch(`${base}/slack/events`, {
          method: 'POST',
          headers: signSlackRequest(SECRET, body),
          body,
        });
        assert.equal(res.status, 200);
        await fake.waitForResponse(id);
      }
      assert.deepEqual(await Subscription.distinct('channel'), [`slack:${FAKE_SLACK_TEAM}:C0SHARED`]);
      assert.equal(await Subscription.countDocuments({}), 2);
    });
  });
});
