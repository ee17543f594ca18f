/**
 * The alert's buttons and /mute, through the command registry as the adapters call it, with
 * detection afterwards: snooze and mute silence alerts for exactly their duration (explicit times,
 * no waiting), and bad input changes nothing.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { actions, commands } from '../commands/index.js';
import { CommandRegistry, type CommandContext } from '../src/chat/registry.js';
import { loadConfig } from '../src/config.js';
import { Alert, Channel, Subscription } from '../src/db/models/index.js';
import { detectSpikes } from '../src/alerts/detect.js';
import { saveSamples, type SampleInput } from '../src/market/samples.js';
import { clearDatabase, useTestDatabase } from './support/db.js';
import { sampleAt } from './support/samples.js';

useTestDatabase('alerts_actions');

const T0 = Date.UTC(2026, 4, 1, 8, 0);
const at = (minute: number) => new Date(T0 + minute * 60_000);
const config = loadConfig({ MARKET_SOURCE: 'simulated' });
const registry = new CommandRegistry(commands, actions, { rateLimitPerMinute: 10_000 });

function ctx(channel: string, now: Date, mayManageChannel = true): CommandContext {
  return { platform: 'slack', channel, user: 'slack:U1', userName: 'ana', mayManageChannel, config, now: () => now };
}

/** Minutes 0..`to` of volume 10, except the spikes given, which grow so each clears the raised baseline. */
async function seed(to: number, spikes: number[]) {
  const rows: SampleInput[] = [];
  for (let m = 0; m <= to; m++) {
    const i = spikes.indexOf(m);
    rows.push(sampleAt('sim:aaa-usd', at(m), { last: 1, volume24h: 1, volumeMinute: i >= 0 ? 1_000 * 10 ** i : 10 }));
  }
  await saveSamples(rows);
}

/** Runs detection at each tick in order (catching up the minutes between). */
async function detectAt(...minutes: number[]) {
  for (const m of minutes) await detectSpikes({ tick: at(m), minPoints: 30 });
}

const alertMinutes = async (channel: string) =>
  (await Alert.find({ channel }).sort({ ts: 1 }).lean()).map((a) => (a.ts.getTime() - T0) / 60_000);

beforeEach(clearDatabase);

describe('alert buttons and /mute', () => {
  it('snooze 1h silences that subscription for an hour and no longer', async () => {
    await seed(125, [61, 119, 120]);
    const snoozed = await Subscription.create({
      channel: 'slack:T1:CS',
      market: 'sim:aaa-usd',
      metric: 'volume',
      cooldownMs: 60_000,
    });
    await Subscription.create({ channel: 'slack:T1:CO', market: 'sim:aaa-usd', metric: 'volume', cooldownMs: 60_000 });
    await detectAt(60);
    const reply = await registry.runAction('snooze:1h', String(snoozed._id), ctx('slack:T1:CS', at(60)));
    assert.equal(reply.tone, 'success', JSON.stringify(reply));
    assert.match(reply.title, /Snoozed sim:aaa-usd volume per minute alerts for 1h/);
    assert.match(reply.text ?? '', /until 2026-05-01 10:00 UTC/);
    await detectAt(61, 119, 120, 125);
    assert.deepEqual(await alertMinutes('slack:T1:CS'), [120]);
    assert.deepEqual(await alertMinutes('slack:T1:CO'), [61, 119, 120]);
  });

  it('snooze 24h sets the snooze a day ahead', async () => {
    const sub = await Subscription.create({ channel: 'slack:T1:CS', market: 'sim:aaa-usd', metric: 'volume' });
    await registry.runAction('snooze:24h', String(sub._id), ctx('slack:T1:CS', at(0)));
    assert.equal((await Subscription.findById(sub._id).lean())!.snoozedUntil!.getTime(), at(24 * 60).getTime());
  });

  it('/mute silences every subscription of the channel for its duration, and /mute off ends it early', async () => {
    await seed(100, [61, 89, 90, 95]);
    await Subscription.create({ channel: 'slack:T1:CM', market: 'sim:aaa-usd', metric: 'volume', cooldownMs: 60_000 });
    await Subscription.create({ channel: 'slack:T1:CM', market: 'sim:aaa-usd', metric: 'price', cooldownMs: 60_000 });
    await Subscription.create({ channel: 'slack:T1:CO', market: 'sim:aaa-usd', metric: 'volume', cooldownMs: 60_000 });
    await detectAt(60);
    const muted = await registry.run('mute', { positional: ['30m'] }, ctx('slack:T1:CM', at(60)));
    assert.equal(muted.title, 'Alerts muted in this channel for 30m');
    assert.equal((await Channel.findById('slack:T1:CM').lean())!.mutedUntil!.getTime(), at(90).getTime());
    await detectAt(61, 89, 90);
    assert.deepEqual(await alertMinutes('slack:T1:CM'), [90]);
    assert.deepEqual(await alertMinutes('slack:T1:CO'), [61, 89, 90]);

    await registry.run('mute', { positional: ['2h'] }, ctx('slack:T1:CM', at(91)));
    const off = await registry.run('mute', { positional: ['off'] }, ctx('slack:T1:CM', at(92)));
    assert.equal(off.title, 'Alerts resumed in this channel');
    await detectAt(95);
    assert.deepEqual(await alertMinutes('slack:T1:CM'), [90, 95]);
  });

  it('/mute alone tells whether the channel is muted', async () => {
    const before = await registry.run('mute', {}, ctx('slack:T1:CM', at(0)));
    assert.equal(before.title, 'Alerts are not muted in this channel');
    await registry.run('mute', { positional: ['1h'] }, ctx('slack:T1:CM', at(0)));
    const during = await registry.run('mute', {}, ctx('slack:T1:CM', at(30)));
    assert.equal(during.title, 'Alerts are muted in this channel until 2026-05-01 09:00 UTC (muted by ana (slack:U1))');
    // Reading the status needs no permission; changing it does.
    const reader = { ...ctx('slack:T1:CM', at(30)), mayManageChannel: false };
    assert.match((await registry.run('mute', {}, reader)).title, /muted in this channel until .* \(muted by ana/);
    assert.match((await registry.run('mute', { positional: ['off'] }, reader)).title, /You may not change/);
    const listed = await registry.run('tracking', {}, ctx('slack:T1:CM', at(30)));
    assert.match(listed.text ?? '', /Muted until 2026-05-01 09:00 UTC by ana \(slack:U1\)/);
    const after = await registry.run('mute', {}, ctx('slack:T1:CM', at(61)));
    assert.equal(after.title, 'Alerts are not muted in this channel');
  });

  it('refuses durations it cannot read or that are too long, and changes nothing', async () => {
    for (const word of ['forever', '31d', '10s', '-1h']) {
      const reply = await registry.run('mute', { positional: [word] }, ctx('slack:T1:CM', at(0)));
      assert.equal(reply.tone, 'error', word);
      assert.match(reply.title, /duration/, word);
      assert.match(reply.text ?? '', /Usage: \/mute \[duration\]/, word);
    }
    assert.equal(await Channel.countDocuments(), 0);
  });

  it('untrack removes the subscription; a click from another channel or on a removed one changes nothing', async () => {
    const sub = await Subscription.create({ channel: 'slack:T1:CU', market: 'sim:aaa-usd', metric: 'volume' });
    const elsewhere = await registry.runAction('alert:untrack', String(sub._id), ctx('slack:T1:OTHER', at(0)));
    assert.equal(elsewhere.tone, 'error');
    assert.match(elsewhere.title, /no longer exists in this channel/);
    assert.equal(await Subscription.countDocuments(), 1);

    const done = await registry.runAction('alert:untrack', String(sub._id), ctx('slack:T1:CU', at(0)));
    assert.equal(done.title, 'Stopped tracking sim:aaa-usd volume per minute in this channel');
    assert.equal(await Subscription.countDocuments(), 0);
    const again = await registry.runAction('snooze:1h', String(sub._id), ctx('slack:T1:CU', at(0)));
    assert.match(again.title, /no longer exists/);
    const junk = await registry.runAction('snooze:1h', '{"$gt":""}', ctx('slack:T1:CU', at(0)));
    assert.match(junk.title, /does not name a subscription/);
  });

  it('needs the channel-management permission, like /track', async () => {
    const sub = await Subscription.create({ channel: 'slack:T1:CP', market: 'sim:aaa-usd', metric: 'volume' });
    const snooze = await registry.runAction('snooze:1h', String(sub._id), ctx('slack:T1:CP', at(0), false));
    assert.equal(snooze.tone, 'error');
    const muteReply = await registry.run('mute', { positional: ['1h'] }, ctx('slack:T1:CP', at(0), false));
    assert.equal(muteReply.tone, 'error');
    assert.equal((await Subscription.findById(sub._id).lean())!.snoozedUntil, null);
    assert.equal(await Channel.countDocuments(), 0);
  });
});
