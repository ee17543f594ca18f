import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, beforeEach, describe, it } from 'node:test';
import { metricOption, windowOption } from '../commands/options.js';
import { METRICS, METRIC_NAMES, type MetricName, type WindowName } from '../src/market/metrics.js';
import { ownCommandName } from '../src/chat/slack-commands.js';
import { CommandRegistry, loadRegistry, usageOf, type CommandContext, defineCommand } from '../src/chat/registry.js';
import { Subscription } from '../src/db/models/index.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';

quietLogs();
useTestDatabase('commands');

const config = chatConfig();
const ctx = (over: Partial<CommandContext> = {}): CommandContext => ({
  platform: 'console',
  channel: 'console:local',
  user: 'console:local',
  mayManageChannel: true,
  config,
  ...over,
});
const line = async (registry: CommandRegistry, text: string, c = ctx()) => {
  const parsed = CommandRegistry.parseLine(text)!;
  return registry.run(parsed.name, parsed.raw, c);
};

describe('track, untrack, tracking', () => {
  let registry: CommandRegistry;
  before(async () => {
    await seedMarkets(new Date(), 30);
    registry = await loadRegistry(config);
  });
  beforeEach(async () => {
    await Subscription.deleteMany({});
  });

  it('tracks with the configured defaults: volume, SPIKE_FACTOR, ALERT_COOLDOWN', async () => {
    const reply = await line(registry, '/track BTC/USD');
    assert.equal(reply.title, 'Now tracking kraken:btc-usd volume per minute in this channel');
    assert.equal(reply.ephemeral, undefined);
    const sub = await Subscription.findOne({ channel: 'console:local' }).lean();
    assert.deepEqual(
      [sub?.market, sub?.metric, sub?.factor, sub?.cooldownMs, sub?.createdBy],
      ['kraken:btc-usd', 'volume', 3, 900_000, 'console:local'],
    );
  });

  it('tracking twice updates what was given, keeps the rest, and says so', async () => {
    await line(registry, '/track btc-usd volume 4 30m');
    const same = await line(registry, '/track btc-usd');
    assert.equal(same.title, 'Already tracking kraken:btc-usd volume per minute; settings unchanged');
    const changed = await line(registry, '/track xbt-usd volume factor=6');
    assert.equal(changed.title, 'Updated tracking of kraken:btc-usd volume per minute');
    assert.match(changed.text!, /factor 4x → 6x\. Now: factor 6x the 1h average, cooldown 30m/);
    assert.equal(await Subscription.countDocuments({}), 1);
  });

  it('an unknown market is a user error with suggestions, and nothing is stored', async () => {
    const reply = await line(registry, '/track btc-usdd');
    assert.equal(reply.ephemeral, true);
    assert.equal(reply.tone, 'error');
    assert.match(reply.title, /Unknown market "btc-usdd"\. Did you mean kraken:btc-usd/);
    assert.equal(await Subscription.countDocuments({}), 0);
  });

  it('tracking lists settings and the last alert', async () => {
    await line(registry, '/track eth-eur price 2 2h');
    await Subscription.updateOne({ market: 'kraken:eth-eur' }, { lastAlertAt: new Date('2026-01-02T03:04:00Z') });
    await line(registry, '/track btc-usd');
    const reply = await line(registry, '/tracking');
    assert.equal(reply.title, 'Tracked in this channel (2)');
    assert.equal(
      reply.text,
      [
        '• kraken:btc-usd volume spikes over 3x the 1h average, cooldown 15m, last alert never',
        '• kraken:eth-eur price spikes over 2x the 1h average, cooldown 2h, last alert 2026-01-02 03:04 UTC',
      ].join('\n'),
    );
    const other = await line(registry, '/tracking', ctx({ channel: 'slack:T:C' }));
    assert.equal(other.title, 'This channel tracks nothing yet');
  });

  it('untrack removes one metric or all of a market, and says when there was nothing', async () => {
    await line(registry, '/track btc-usd');
    await line(registry, '/track btc-usd price');
    const one = await line(registry, '/untrack btc-usd price');
    assert.equal(one.title, 'Stopped tracking kraken:btc-usd price in this channel');
    await line(registry, '/track btc-usd price');
    const all = await line(registry, '/untrack btc-usd');
    assert.equal(all.text, '2 subscriptions removed.');
    const none = await line(registry, '/untrack btc-usd');
    assert.equal(none.ephemeral, true);
    assert.match(none.title, /does not track kraken:btc-usd/);
  });

  it('rank takes every spelling of a ranking figure that the API takes', async () => {
    const spellings: Array<[string, string]> = [
      ['std', 'raw std dev'],
      ['sd', 'raw std dev'],
      ['raw', 'raw std dev'],
      ['stdev', 'raw std dev'],
      ['cv', 'relative std dev'],
      ['log', 'std dev of 1-minute log returns'],
      ['returns', 'std dev of 1-minute log returns'],
    ];
    for (const [by, method] of spellings) {
      const reply = await line(registry, `/rank price 1h ${by}`);
      assert.notEqual(reply.tone, 'error', `${by}: ${reply.title}`);
      assert.match(reply.text!, new RegExp(`^Ranked by 1h ${method}`), by);
    }
  });

  it('needs the manage permission for track and untrack, not for tracking', async () => {
    const denied = await line(registry, '/track btc-usd', ctx({ mayManageChannel: false }));
    assert.match(denied.title, /You may not change what this channel tracks/);
    assert.equal(await Subscription.countDocuments({}), 0);
    const allowed = await line(registry, '/tracking', ctx({ mayManageChannel: false }));
    assert.equal(allowed.tone, undefined);
  });
});

describe('registry', () => {
  it('types a choice option from its parser, so run() needs no cast', () => {
    const probe = defineCommand({
      name: 'probe',
      description: 'types only',
      options: [metricOption('metric'), windowOption],
      examples: [],
      run: async (_ctx, o) => {
        // Compiles only while o.metric is a MetricName and o.window a WindowName.
        const metric: MetricName = o.metric ?? 'price';
        const window: WindowName = o.window ?? '24h';
        return { title: `${METRICS[metric].label} ${window}` };
      },
    });
    assert.equal(probe.options[0].choices, METRIC_NAMES);
  });

  it('validates options and answers with every problem and the usage', async () => {
    const registry = await loadRegistry(config);
    const reply = await line(registry, '/rank volumee 3d by=median n=99');
    assert.equal(reply.ephemeral, true);
    assert.equal(
      reply.title,
      '/rank: metric: "volumee" is not one of price, high, low, change, volume, volume24h, quoteVolume; ' +
        'window: "3d" is not one of 1h, 6h, 24h, 7d; by: "median" is not one of rsd, std, logret; ' +
        'n: expected a whole number from 1 to 20, got "99".',
    );
    assert.match(reply.text!, /^Usage: \/rank \[metric\] \[window\] \[by\] \[n\]/);
    const extra = await line(registry, '/help track now please');
    assert.match(extra.title, /Too many options for \/help: "now" "please" not understood/);
    const unknown = await line(registry, '/rnak');
    assert.match(unknown.title, /Unknown command "\/rnak"/);
    assert.match(unknown.text!, /\/help/);
    // parseMetric's alias table is a plain object: `__proto__` must not come back as a metric.
    const proto = await line(registry, '/untrack btc-usd __proto__');
    assert.match(proto.title, /metric: "[_ ]*proto[_ ]*" is not one of price/);
    const missing = await line(registry, '/track');
    assert.equal(missing.title, '/track: market: required.');
  });

  it('help is generated from the definitions with an example for every command', async () => {
    const registry = await loadRegistry(config);
    const reply = await line(registry, '/help');
    assert.equal(reply.ephemeral, true);
    const names = reply.fields!.map((f) => f.name);
    assert.deepEqual(names, registry.list().map(usageOf));
    for (const usage of [
      '/metric <market> [metric] [window]',
      '/rank [metric] [window] [by] [n] [exchange]',
      '/compare <market>',
      '/track <market> [metric] [factor] [cooldown] [to]',
      '/alert <market> <condition> [value] [window] [direction] [to]',
      '/untrack <market> [metric] [kind] [to]',
      '/tracking [digest]',
      '/help [command]',
    ]) {
      assert.ok(names.includes(usage), usage);
    }
    for (const f of reply.fields!) assert.match(f.value, /\nExample: \/\w+/);
    const one = await line(registry, '/help track');
    assert.match(one.text!, /factor: Alert when a point exceeds/);
  });

  it('logs an internal failure with a reference and shows only the apology', async () => {
    const boom = defineCommand({
      name: 'boom',
      description: 'fails',
      options: [],
      examples: ['boom'],
      run: async () => {
        throw new Error('secret internals at /srv/app.js:12');
      },
    });
    const registry = new CommandRegistry([boom], [], { rateLimitPerMinute: 10 });
    const reply = await registry.run('boom', {}, ctx());
    assert.match(reply.title, /^Sorry, something went wrong on our side\. .* reference [0-9A-F]{8}\.$/);
    assert.doesNotMatch(JSON.stringify(reply), /secret internals|app\.js|at /);
  });

  it('limits commands per user per minute, and the limit passes', async () => {
    let now = 1_000_000;
    const ping = defineCommand({
      name: 'ping',
      description: 'p',
      options: [],
      examples: ['ping'],
      run: async () => ({ title: 'pong' }),
    });
    const registry = new CommandRegistry([ping], [], { rateLimitPerMinute: 3, now: () => now });
    for (let i = 0; i < 3; i++) assert.equal((await registry.run('ping', {}, ctx())).title, 'pong');
    const limited = await registry.run('ping', {}, ctx());
    assert.equal(limited.title, 'You are sending commands too fast. Try again in 60s.');
    assert.equal((await registry.run('ping', {}, ctx({ user: 'someone-else' }))).title, 'pong');
    now += 60_001;
    assert.equal((await registry.run('ping', {}, ctx())).title, 'pong');
  });

  it('unknown button actions are a clear user error', async () => {
    const registry = await loadRegistry(config);
    const reply = await registry.runAction('nope', 'x', ctx());
    assert.equal(reply.title, 'That button is no longer supported.');
  });

  it('refuses a definition whose required option follows an optional one', () => {
    const bad = defineCommand({
      name: 'bad',
      description: 'b',
      options: [
        { name: 'a', description: 'a', kind: 'integer' },
        { name: 'b', description: 'b', kind: 'market', required: true },
      ],
      examples: [],
      run: async () => ({ title: '' }),
    });
    assert.throws(
      () => new CommandRegistry([bad], [], { rateLimitPerMinute: 1 }),
      /required option b after an optional one/,
    );
  });
});

describe('slack-manifest.yml', () => {
  it('declares exactly the registry’s commands (by their Slack names), all posting to /slack/events', async () => {
    const manifest = readFileSync(new URL('../slack-manifest.yml', import.meta.url), 'utf8');
    const declared = [...manifest.matchAll(/- command: (\/[a-z-]+)/g)].map((m) => ownCommandName(m[1]!));
    const registry = await loadRegistry(config);
    assert.deepEqual(
      declared,
      registry.list().map((c) => c.name),
    );
    const urls = [...manifest.matchAll(/url: (\S+)/g)].map((m) => m[1]);
    assert.ok(urls.length >= declared.length);
    for (const u of urls) assert.equal(new URL(u!).pathname, '/slack/events');
  });
});
