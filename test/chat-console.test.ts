import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startConsole, type ConsoleAdapter } from '../src/chat/console.adapter.js';
import { loadRegistry } from '../src/chat/registry.js';
import { ChannelGoneError } from '../src/chat/platform.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { until } from './support/wait.js';
import { useTestDatabase } from './support/db.js';

quietLogs();
useTestDatabase('chat_console');

describe('console REPL', () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (c: Buffer) => (text += c.toString('utf8')));
  let repl: ConsoleAdapter;

  before(async () => {
    await seedMarkets(new Date(), 60);
    const config = chatConfig();
    repl = startConsole({ config, registry: await loadRegistry(config), input, output });
  });
  after(async () => {
    await repl?.stop();
  });

  const say = async (line: string) => {
    const start = text.length;
    input.write(`${line}\n`);
    // The prompt comes back once the line is answered.
    await until(`an answer to ${line}`, () => text.slice(start).endsWith('> ') && text.slice(start));
    return text.slice(start, -2);
  };

  it('greets with the channel id and a prompt', async () => {
    await until('the prompt', () => text.includes('> '));
    assert.match(text, /Type \/help for commands\. Channel console:local\./);
  });

  it('answers commands in order, as text', async () => {
    input.write('/track btc-usd volume 4\n/tracking\n');
    await repl.idle();
    assert.match(text, /# Now tracking kraken:btc-usd volume per minute in this channel\n/);
    assert.match(
      text,
      /# Tracked in this channel \(1\)\n• kraken:btc-usd volume spikes over 4x the 1h average, cooldown 15m, last alert never\n/,
    );
    assert.ok(text.indexOf('Now tracking') < text.indexOf('Tracked in this channel'));
  });

  it('prints user errors with the usage, and accepts commands without the slash', async () => {
    const out = await say('track nowhere-usd');
    assert.match(out, /^! Unknown market "nowhere-usd"\./);
    const help = await say('help untrack');
    assert.match(help, /Usage: \/untrack <market> \[metric\]/);
  });

  it('clicks a button with !action value', async () => {
    const out = await say('!track kraken:sol-usd');
    assert.match(out, /# Now tracking kraken:sol-usd volume per minute in this channel/);
  });

  it("draws /metric's chart in text, and prints its URL on !chart", async () => {
    assert.equal(await say('!chart'), 'No chart shown yet: /metric draws one.\n');
    const out = await say('metric btc-usd');
    assert.match(out, /┤/, 'a text chart with its axis');
    assert.match(out, /\nChart link: !chart\n/);
    assert.doesNotMatch(out, /https?:\/\//, 'no URL in the answer itself');
    const plotted = out.split('\n').filter((l) => /[┤┼]/.test(l));
    assert.equal(plotted.length, 9, 'eight rows and the top row of the axis');
    assert.ok(Math.max(...out.split('\n').map((l) => l.length)) <= 80, 'fits an 80-column terminal');
    const link = await say('!chart');
    assert.match(link, /^Chart: https?:\/\/\S+chart\?\S+\n$/);
  });

  it('prints alerts posted to console:local and refuses other channels', async () => {
    const start = text.length;
    const { ref } = await repl.post('console:local', {
      title: 'Volume spike on kraken:btc-usd',
      chart: { url: 'https://quickchart.example.test/chart?c=1', alt: 'x' },
    });
    assert.match(ref, /^console-\d+$/);
    assert.match(
      text.slice(start),
      /# Volume spike on kraken:btc-usd\nChart: https:\/\/quickchart.example.test\/chart\?c=1\n/,
    );
    await assert.rejects(repl.post('slack:T:C', { title: 'x' }), ChannelGoneError);
  });
});
