/**
 * Level and move rules end to end: rules made with /alert, prices played by a local Kraken, ticks
 * through the real pipeline into the outbox, a takeover and a repeated run that must not post twice,
 * two deliverers racing for the alerts of every kind, the commands that list and remove each kind,
 * and the REST route that lists a channel's rules behind its token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDeliverer } from '../src/alerts/deliver.js';
import { CommandRegistry, loadRegistry, type CommandContext } from '../src/chat/registry.js';
import type { ChatPlatform, PlatformName } from '../src/chat/platform.js';
import type { Reply } from '../src/chat/reply.js';
import { loadConfig } from '../src/config.js';
import { Alert, Lease, Subscription } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { initLogger } from '../src/logger.js';
import { invalidateCatalog } from '../src/market/catalog.js';
import { Pipeline } from '../src/market/pipeline/pipeline.js';
import { FakeKraken } from './support/fake-kraken.js';
import { useTestDatabase } from './support/db.js';

useTestDatabase('rules_pipeline');

const MIN = 60_000;
const T0 = Date.UTC(2026, 4, 1, 10, 0);
const at = (m: number) => new Date(T0 + m * MIN);
const CHANNEL = 'slack:T1:C1';
const TOKEN = 'a-long-random-rules-token';

let kraken: FakeKraken;
let registry: CommandRegistry;
const config = () =>
  loadConfig({
    MARKET_SOURCE: 'kraken',
    KRAKEN_API_URL: kraken.url,
    SOURCE_REQUEST_GAP: '1ms',
    SOURCE_TIMEOUT: '2s',
    BACKFILL_MAX: '1m',
    LOG_LEVEL: 'silent',
    API_RULES_TOKEN: TOKEN,
    COMMAND_RATE_LIMIT_PER_MINUTE: '1000',
  });

const ctx = (minute: number, over: Partial<CommandContext> = {}): CommandContext => ({
  platform: 'slack',
  channel: CHANNEL,
  user: 'slack:U1',
  mayManageChannel: true,
  config: config(),
  now: () => at(minute),
  ...over,
});
const run = async (text: string, c: CommandContext) => {
  const parsed = CommandRegistry.parseLine(text)!;
  return registry.run(parsed.name, parsed.raw, c);
};

/** One tick with these last prices (BTC, ETH); the fake's candle clock follows the tick. */
async function tickAt(p: Pipeline, minute: number, btc: number, eth: number) {
  kraken.now = at(minute).getTime();
  kraken.setTicker('XXBTZUSD', { last: btc });
  kraken.setTicker('XETHZUSD', { last: eth });
  return p.tick(at(minute));
}

const alertsOf = (kind: 'level' | 'move') => Alert.find({ kind }).sort({ ts: 1 }).lean();

describe('levels and moves through the pipeline', () => {
  let a: Pipeline;
  const btc: number[] = [60_000, 60_500, 61_100, 60_900, 61_050, 60_600, 61_000, 61_200, 61_300, 61_300, 61_300];
  const eth: number[] = [3_000, 3_000, 3_000, 3_000, 3_000, 3_000, 3_000, 3_160, 3_100, 3_000, 3_200];

  before(async () => {
    initLogger(loadConfig({ LOG_LEVEL: 'silent' }));
    kraken = await FakeKraken.start();
    a = new Pipeline(config(), 'kraken', { owner: 'replica-a' });
    const first = await tickAt(a, 0, btc[0]!, eth[0]!);
    assert.equal(first.result.status, 'ok');
    invalidateCatalog();
    registry = await loadRegistry(config());
    for (const line of [
      '/alert btc-usd above 61000',
      '/alert btc-usd below 59000',
      '/track btc-usd price',
      '/alert eth-usd move 5% 5m',
      '/alert eth-usd move down 3% 2m',
    ]) {
      const reply = await run(line, ctx(0));
      assert.equal(reply.tone, 'success', `${line}: ${reply.title} ${reply.text ?? ''}`);
    }
  });
  after(async () => {
    await kraken.stop();
  });

  it('keeps several rules on one market side by side, each with its condition', async () => {
    assert.equal(await Subscription.countDocuments({ market: 'kraken:btc-usd' }), 3);
    const level = await Subscription.findOne({ rule: 'above:61000' }).lean();
    assert.equal(level?.kind, 'level');
    assert.equal(level?.armed, true, 'armed from the last price, 60,000, below the level');
    const again = await run('/alert btc-usd above 61000', ctx(0));
    assert.match(again.title, /^Already alerting on kraken:btc-usd price above 61,000/);
  });

  it('fires a level once per crossing: not while it hovers, again after a re-arm past the hysteresis', async () => {
    const loadsBefore = a.ruleLoads;
    for (let m = 1; m <= 6; m++) await tickAt(a, m, btc[m]!, eth[m]!);
    assert.ok(a.ruleLoads - loadsBefore <= 1, 'rules read once after they changed, not every tick');
    const levels = await alertsOf('level');
    // 61,100 at minute 2 crosses; 60,900 and 61,050 hover inside the 0.5% margin (60,695);
    // 60,600 re-arms; exactly 61,000 at minute 6 crosses again.
    assert.deepEqual(
      levels.map((l) => [l.ts.getTime(), l.value, l.direction, l.threshold]),
      [
        [at(2).getTime(), 61_100, 'above', 61_000],
        [at(6).getTime(), 61_000, 'above', 61_000],
      ],
    );
    assert.equal(levels[0]!.channel, CHANNEL);
    const sub = await Subscription.findOne({ rule: 'above:61000' }).lean();
    assert.equal(sub?.armed, false, 'the state is stored with the alert');
    assert.equal(sub?.stateAt?.getTime(), at(6).getTime());
  });

  it('fires moves against the price one window ago, in their direction, and holds a persisting move back', async () => {
    for (let m = 7; m <= 10; m++) await tickAt(a, m, btc[m]!, eth[m]!);
    const moves = await alertsOf('move');
    const either = await Subscription.findOne({ rule: 'move:either:5:300000' }).lean();
    const down = await Subscription.findOne({ rule: 'move:down:3:120000' }).lean();
    // Minute 7: 3,160 against minute 2's 3,000 is +5.3% (either). Minute 9: 3,000 against minute 7's
    // 3,160 is -5.1% (down 3% in 2m). Minute 10: 3,200 against minute 5 is +6.7%, but within the
    // either rule's 5m cooldown: held back.
    assert.deepEqual(
      moves.map((m) => [String(m.subscriptionId), m.ts.getTime(), m.direction, m.baseline]),
      [
        [String(either!._id), at(7).getTime(), 'up', 3_000],
        [String(down!._id), at(9).getTime(), 'down', 3_160],
      ],
    );
    assert.ok(Math.abs(moves[0]!.change! - (160 / 3_000) * 100) < 1e-9);
    assert.equal(moves[0]!.windowMs, 5 * MIN);
    assert.equal(either?.suppressed, 1, 'the move at minute 10 counted, not posted');
  });

  it('after a takeover, and after a run that died before saving its state, posts nothing twice', async () => {
    const before = await Alert.countDocuments();
    // A run that wrote its alert but died before the state: the level's state is back to armed.
    await Subscription.updateOne({ rule: 'above:61000' }, { $set: { armed: true, stateAt: at(5) } });
    await Lease.deleteMany({});
    const b = new Pipeline(config(), 'kraken', { owner: 'replica-b' });
    const r = await tickAt(b, 11, 61_300, 3_200);
    assert.equal(r.result.status, 'ok');
    assert.equal(r.detect?.duplicates, 1, 'the repeated crossing had the same key');
    assert.equal(await Alert.countDocuments(), before, 'the outbox holds each alert once');
    const sub = await Subscription.findOne({ rule: 'above:61000' }).lean();
    assert.equal(sub?.armed, false);
    const standby = await tickAt(a, 12, 61_300, 3_200);
    assert.equal(standby.result.status, 'skipped', 'the old holder is the standby now');
  });

  it('posts each level and move alert once when two deliverers race for them', async () => {
    class Recorder implements ChatPlatform {
      readonly posts: Reply[] = [];
      constructor(readonly name: PlatformName) {}
      async post(_channel: string, reply: Reply) {
        await new Promise((r) => setTimeout(r, 2));
        this.posts.push(reply);
        return { ref: `${this.name}-${this.posts.length}` };
      }
    }
    // One post per alert: each alert was written by its own run, so none share a digest.
    const x = new Recorder('slack');
    const y = new Recorder('slack');
    const one = startDeliverer({ platforms: [x], owner: 'replica-a', batchSize: 1, pollMs: 60_000 });
    const two = startDeliverer({ platforms: [y], owner: 'replica-b', batchSize: 1, pollMs: 60_000 });
    try {
      await Promise.all([one.deliverNow(), two.deliverNow(), one.deliverNow(), two.deliverNow()]);
      await Promise.all([one.deliverNow(), two.deliverNow()]);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
    const titles = [...x.posts, ...y.posts].map((p) => p.title).sort();
    assert.deepEqual(titles, [
      'Move: kraken:eth-usd down 5.1% in 2m',
      'Move: kraken:eth-usd up 5.3% in 5m',
      'Price level: kraken:btc-usd above 61,000',
      'Price level: kraken:btc-usd above 61,000',
    ]);
    assert.equal(await Alert.countDocuments({ status: 'sent' }), 4);
    const texts = [...x.posts, ...y.posts].map((p) => p.text ?? '').join('\n');
    assert.match(texts, /kraken:btc-usd crossed above 61,000 USD \(now 61,100 USD\)/);
    assert.match(texts, /kraken:eth-usd fell 5.1% in 2m \(3,160 -> 3,000 USD\)/);
  });
});

describe('/alert, /tracking, /untrack and the buttons for every kind', () => {
  it('refuses malformed rules with a clear message', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/alert btc-usd above', /A price level needs a price/],
      ['/alert btc-usd above -5', /The level must be a price above zero/],
      ['/alert btc-usd move -5% 1h', /The move must be a percent above 0/],
      ['/alert btc-usd move 5%', /A move needs a window/],
      ['/alert btc-usd move 5% 30s', /at least the collect interval \(1m\)/],
      ['/alert btc-usd move 5% 2d', /at most 24h/],
      ['/alert btc-usd above 100000 1h', /takes a price only/],
      ['/alert nosuch-usd above 1', /Unknown market/i],
      ['/alert btc-usd sideways 5', /condition: "sideways" is not one of above, below, move/],
    ];
    for (const [text, expected] of cases) {
      const reply = await run(text, ctx(12));
      assert.equal(reply.ephemeral, true, text);
      assert.match(`${reply.title} ${reply.text ?? ''}`, expected, text);
      assert.doesNotMatch(`${reply.title} ${reply.text ?? ''}`, /at \w+ \(|node:|\.ts:\d+/, 'no stack trace');
    }
  });

  it('sends a rule to the caller’s DMs with dm, as /track does', async () => {
    const reply = await run('/alert btc-usd move up 3% 15m dm', ctx(12, { openDirect: async () => 'slack:T1:D9' }));
    assert.match(reply.title, /^Now alerting in your direct messages: kraken:btc-usd rises 3% within 15m/);
    const sub = await Subscription.findOne({ rule: 'move:up:3:900000' }).lean();
    assert.equal(sub?.channel, 'slack:T1:D9');
    assert.equal(sub?.direct, true);
    assert.equal(sub?.requestedIn, CHANNEL);
    assert.equal(sub?.cooldownMs, 15 * MIN, 'a move cools down for its window');
  });

  it('lists every kind in words, and untracks by kind and by button', async () => {
    const listed = await run('/tracking', ctx(12));
    const text = listed.text ?? '';
    for (const expected of [
      'kraken:btc-usd price above 61,000, last alert 2026-05-01 10:',
      'kraken:btc-usd price below 59,000',
      'kraken:btc-usd price spikes over 3x the 1h average, cooldown 15m',
      'kraken:eth-usd moves 5% either way within 5m, cooldown 5m',
      'kraken:eth-usd falls 3% within 2m',
      'kraken:btc-usd rises 3% within 15m → DM',
    ])
      assert.ok(text.includes(expected), `${expected}\nin\n${text}`);

    const below = await Subscription.findOne({ rule: 'below:59000' }).lean();
    const snoozed = await registry.runAction('snooze:1h', String(below!._id), ctx(12));
    assert.equal(snoozed.title, 'Snoozed kraken:btc-usd price below 59,000 alerts for 1h');
    assert.match(snoozed.text ?? '', /\/alert kraken:btc-usd below 59000 lifts the snooze/);
    const gone = await registry.runAction('alert:untrack', String(below!._id), ctx(12));
    assert.equal(gone.title, 'Stopped tracking kraken:btc-usd price below 59,000 in this channel');

    const moves = await run('/untrack eth-usd move', ctx(12));
    assert.equal(moves.title, 'Stopped tracking kraken:eth-usd move alerts in this channel');
    assert.equal(moves.text, '2 subscriptions removed.');
    const levels = await run('/untrack btc-usd level', ctx(12));
    assert.equal(levels.title, 'Stopped tracking kraken:btc-usd level alerts in this channel');
    assert.deepEqual(
      (await Subscription.find({ market: 'kraken:btc-usd', channel: CHANNEL }).lean()).map((s) => s.kind),
      ['spike'],
      'the spike on price stays',
    );
    const none = await run('/untrack btc-usd level', ctx(12));
    assert.match(none.title, /does not track kraken:btc-usd \(level\)/);
  });
});

describe('GET /api/v1/channels/:channel/rules', () => {
  it('does not exist without API_RULES_TOKEN, needs the bearer token, and lists every kind', async () => {
    await run('/alert btc-usd above 70000', ctx(12));
    const url = `/api/v1/channels/${encodeURIComponent(CHANNEL)}/rules`;
    const closed = await buildServer({ config: loadConfig({ LOG_LEVEL: 'silent' }) });
    const open = await buildServer({ config: config() });
    try {
      assert.equal(
        (await closed.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } })).statusCode,
        404,
      );
      const missing = await open.inject({ method: 'GET', url });
      assert.equal(missing.statusCode, 401);
      assert.equal(missing.headers['www-authenticate'], 'Bearer');
      const wrong = await open.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}x` } });
      assert.equal(wrong.statusCode, 401);
      assert.doesNotMatch(wrong.body, new RegExp(TOKEN));
      const ok = await open.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.statusCode, 200);
      const body = ok.json() as { channel: string; rules: Array<Record<string, unknown>> };
      assert.equal(body.channel, CHANNEL);
      const byCondition = new Map(body.rules.map((r) => [r.condition, r]));
      assert.equal(byCondition.get('price above 70,000')?.kind, 'level');
      assert.equal(byCondition.get('price above 70,000')?.armed, true);
      assert.equal(byCondition.get('price spikes over 3x the 1h average')?.kind, 'spike');
      assert.equal(byCondition.get('rises 3% within 15m')?.windowMs, 15 * MIN);
      assert.equal(byCondition.get('rises 3% within 15m')?.channel, 'slack:T1:D9');
      const spec = (await open.inject({ method: 'GET', url: '/docs/json' })).json() as {
        paths: Record<string, unknown>;
      };
      assert.ok(spec.paths['/api/v1/channels/{channel}/rules'], 'in the OpenAPI document');
    } finally {
      await closed.close();
      await open.close();
    }
  });
});
