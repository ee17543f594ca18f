import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { CommandRegistry, loadRegistry, type CommandContext, type RawOptions } from '../src/chat/registry.js';
import { Subscription } from '../src/db/models/index.js';
import { chatConfig, quietLogs, seedMarkets } from './support/chat-fixtures.js';
import { useTestDatabase } from './support/db.js';

quietLogs();
useTestDatabase('commands_fuzz');

/** Small seeded PRNG so a failure replays with the same inputs. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'btc-usd',
  'BTC/USD',
  'kraken:eth-eur',
  'xbt',
  'sol',
  'volume',
  'price',
  '24h',
  '7d',
  '1h',
  'rsd',
  'logret',
  '3',
  '0',
  '-1',
  '1e309',
  'NaN',
  'Infinity',
  '15m',
  '2h',
  '999d',
  '$gt',
  '$where',
  '{"$ne":null}',
  '{"$regex":".*"}',
  '$expr',
  '__proto__',
  'constructor',
  'factor=',
  'n=5',
  'metric=volume',
  'market=$ne',
  '<!channel>',
  '@everyone',
  '`rm -rf`',
  '\u0000',
  '\n',
  '\t',
  '💥',
  'ü',
  '"',
  "'",
  '\\',
  '%00',
  '../../etc/passwd',
  'x'.repeat(300),
  '.',
  ':',
  '=',
  '==',
  'by=std',
  'window=6h',
  'cooldown=1m',
];
const COMMANDS = ['metric', 'rank', 'track', 'untrack', 'tracking', 'help', 'nope', '', '$where'];
const DANGEROUS =
  /^\$(where|regex|expr|function|accumulator|ne|nin|gt|gte|lt|lte|in|exists|or|and|not|jsonSchema|elemMatch|text)$/;

describe('10,000 random option strings through the registry', () => {
  const captured: unknown[] = [];
  before(async () => {
    await seedMarkets(new Date(), 30);
    mongoose.set('debug', (_collection: string, _method: string, ...args: unknown[]) => {
      captured.push(args);
    });
  });
  after(() => {
    mongoose.set('debug', false);
  });

  it('never crashes, never shows a stack trace, and never lets an operator from input reach a query', async () => {
    const registry: CommandRegistry = await loadRegistry(chatConfig({ COMMAND_RATE_LIMIT_PER_MINUTE: '10000' }));
    const random = mulberry32(20_260_101);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const word = (): string => {
      const r = random();
      if (r < 0.5) return pick(PIECES);
      if (r < 0.8) return pick(PIECES) + pick(PIECES);
      // Random code points, including surrogates and control characters.
      return String.fromCharCode(
        ...Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * 0x3000)),
      );
    };
    const fromInput = new Set<string>();
    let internal = 0;
    for (let i = 0; i < 10_000; i++) {
      const name = pick(COMMANDS);
      let raw: RawOptions;
      if (random() < 0.7) {
        const text = Array.from({ length: Math.floor(random() * 5) }, word).join(' ');
        raw = CommandRegistry.parseLine(`/${name} ${text}`)?.raw ?? {};
        for (const w of text.split(/\s+/)) if (w.includes('$')) fromInput.add(w.replace(/^[a-z]+=/i, ''));
      } else {
        // What a platform could hand over as named values, structured payloads included.
        const value = pick<unknown>([
          word(),
          random() * 1e6 - 5e5,
          { $gt: '' },
          ['btc-usd'],
          null,
          true,
          { toString: 'x' },
        ]);
        raw = {
          named: { [pick(['market', 'metric', 'factor', 'n', 'window', '__proto__', '$where', 'constructor'])]: value },
        };
      }
      const ctx: CommandContext = {
        platform: pick(['slack', 'discord', 'console'] as const),
        channel: `console:fuzz${i % 7}`,
        user: `fuzz:${i % 13}`,
        mayManageChannel: random() < 0.8,
        config: chatConfig(),
      };
      const reply = await registry.run(name, raw, ctx);
      assert.equal(typeof reply.title, 'string');
      assert.ok(reply.title.length > 0);
      const shown = JSON.stringify(reply);
      assert.doesNotMatch(
        shown,
        /\bat [\w.<>]+ \(|node_modules|\.ts:\d+|\.js:\d+|Error:|ZodError|MongoServerError/,
        `input ${JSON.stringify([name, raw])} -> ${shown}`,
      );
      if (/something went wrong on our side/.test(reply.title)) {
        internal += 1;
        if (internal <= 3) console.error('internal', name, JSON.stringify(raw));
      }
    }
    assert.equal(internal, 0, 'every failure was the user’s, answered as such');

    const walk = (value: unknown, visit: (key: string | undefined, v: unknown) => void, key?: string): void => {
      visit(key, value);
      if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, visit, k);
    };
    let queries = 0;
    for (const args of captured) {
      queries += 1;
      walk(args, (key, v) => {
        if (key !== undefined && DANGEROUS.test(key) && key !== '$in') {
          // The code's own operators take fixed shapes; a user-supplied one would carry input text.
          walk(v, (_k, inner) =>
            assert.ok(
              !(typeof inner === 'string' && fromInput.has(inner)),
              `operator ${key} with input ${String(inner)}`,
            ),
          );
        }
        if (typeof v === 'string') assert.ok(!fromInput.has(v), `input "${v}" reached a query`);
        if (key !== undefined) assert.ok(!fromInput.has(key), `input "${key}" became a query key`);
      });
    }
    assert.ok(queries > 0, 'the fuzz reached the database');
    // Whatever was stored names only real markets.
    const markets = await Subscription.distinct('market');
    for (const m of markets) assert.match(String(m), /^kraken:[a-z]+-[a-z]+$/);
  });
});
