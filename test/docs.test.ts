import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_KEYS } from '../src/config.js';
import { DEPLOYMENT_SECTION, expectedReadme, parseEnvExample } from '../scripts/config-table.js';

const root = resolve(import.meta.dirname, '..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');

describe('documentation stays true to the code', () => {
  it('.env.example lists exactly the keys src/config.ts reads, each with a comment, then the deployment ones', () => {
    const entries = parseEnvExample(read('.env.example'));
    const bot = entries.filter((e) => e.section !== DEPLOYMENT_SECTION);
    assert.deepEqual(bot.map((e) => e.key).sort(), [...CONFIG_KEYS].sort());
    assert.equal(entries.at(-1)?.section, DEPLOYMENT_SECTION, 'the deployment section comes last');
    for (const e of entries) assert.ok(e.comment.length > 10, `${e.key} has no comment`);
  });

  it("the README's configuration table is the one generated from .env.example", () => {
    const readme = read('README.md');
    assert.equal(readme, expectedReadme(readme, read('.env.example')), 'run npm run docs:config');
  });

  it('the README gives the two commands and names the test command .ci/run calls', () => {
    const readme = read('README.md');
    assert.match(readme, /npm start/);
    assert.match(readme, /npm test/);
    assert.match(read('.ci/run'), /^npm test$/m);
  });
});
