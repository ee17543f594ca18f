import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadRegistry } from '../src/chat/registry.js';
import { startSlack, type SlackAdapter } from '../src/chat/slack.adapter.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';
import { startFakeSlack, type FakeSlack } from './support/fake-slack.js';

quietLogs();
useTestDatabase('chat_slack_socket');

describe('slack adapter in Socket Mode', () => {
  let fake: FakeSlack;
  let adapter: SlackAdapter;

  before(async () => {
    await seedMarkets(new Date(), 30);
    fake = await startFakeSlack();
    // No signing secret and no HTTP server: Socket Mode needs neither.
    const config = chatConfig({
      SLACK_BOT_TOKEN: 'xoxb-socket',
      SLACK_APP_TOKEN: 'xapp-socket',
      SLACK_API_URL: fake.apiUrl,
    });
    adapter = await startSlack({ config, registry: await loadRegistry(config) });
    await fake.socketConnected();
  });
  after(async () => {
    await adapter?.stop();
    await fake?.close();
  });

  it('opens the connection with the app token through the configured Web API', () => {
    assert.equal(adapter.mode, 'socket');
    const open = fake.http.find('/api/apps.connections.open');
    assert.equal(open.length >= 1, true);
    assert.equal(open[0]!.headers.authorization, 'Bearer xapp-socket');
  });

  it('acks the envelope, then answers on response_url', async () => {
    const ack = await fake.socketCommand({
      command: '/track',
      text: 'sol-usd',
      responseUrl: fake.responseUrl('sock1'),
    });
    assert.ok(typeof ack.envelope_id === 'string');
    const answer = await fake.waitForResponse('sock1');
    assert.match(JSON.stringify(answer.blocks), /Now tracking kraken:sol-usd/);
  });
});
