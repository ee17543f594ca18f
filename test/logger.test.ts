import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, makeScrubber } from '../src/logger.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

describe('logger', () => {
  const secrets = [
    'xoxb-123-456-abcdef',
    'signing-secret-value',
    'MTIz.discord.token',
    'cw-api-key-1',
    'pa$$word"quoted',
  ];

  it('never writes a configured secret, wherever it appears', () => {
    const { stream, lines } = capture();
    const logger = createLogger({ level: 'trace', format: 'json', secrets, destination: stream });
    logger.info(`token is ${secrets[0]}`);
    logger.info({ config: { slack: { signingSecret: secrets[1] } } }, 'nested by name');
    logger.info({ detail: `Bearer ${secrets[2]}` }, 'nested by value');
    logger.error({ err: new Error(`request failed with key ${secrets[3]}`) }, 'with stack');
    logger.warn({ note: secrets[4] }, 'json-escaped');
    logger.child({ component: 'x', token: secrets[0] }).debug('child binding');
    const text = lines.join('\n');
    for (const s of secrets) assert.ok(!text.includes(s), `leaked ${s}`);
    assert.ok(!text.includes(JSON.stringify(secrets[4]).slice(1, -1)));
    assert.equal(lines.length, 6);
    assert.match(text, /\[REDACTED\]/);
    assert.match(lines[3]!, /"stack"/);
  });

  it('hides passwords in any URI, configured or not', () => {
    const scrub = makeScrubber([]);
    assert.equal(
      scrub('connect mongodb+srv://bot:hunter22@cluster0/x'),
      'connect mongodb+srv://bot:[REDACTED]@cluster0/x',
    );
    assert.equal(scrub('plain http://host/path'), 'plain http://host/path');
  });

  it('keeps ordinary fields intact', () => {
    const { stream, lines } = capture();
    createLogger({ level: 'info', format: 'json', secrets, destination: stream }).info(
      { market: 'kraken:btc-usd', n: 3 },
      'ok',
    );
    const line = JSON.parse(lines[0]!);
    assert.equal(line.market, 'kraken:btc-usd');
    assert.equal(line.n, 3);
    assert.equal(line.level, 'info');
  });

  it('writes every line to the file in console mode, secrets scrubbed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chatops-log-'));
    try {
      const file = join(dir, 'logs', 'bot.log');
      const logger = createLogger({ level: 'info', format: 'auto', secrets, file });
      logger.info({ key: secrets[3] }, 'collected');
      logger.debug('below the level');
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.map((l) => l.msg),
        ['collected'],
      );
      assert.equal(lines[0].key, '[REDACTED]');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
