import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');

describe('deployment files', () => {
  it('Dockerfile passes the linter', () => {
    const lint = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'dockerfile-utils', 'bin', 'dockerfile-utils'), 'lint', 'Dockerfile'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    assert.equal(lint.stdout.trim(), '', lint.stdout);
  });

  it('Dockerfile builds in one stage and runs compiled JS as a non-root user in another', () => {
    const text = read('Dockerfile');
    const stages = text.match(/^FROM .+$/gm) ?? [];
    assert.equal(stages.length, 2);
    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    assert.match(runtime, /^USER node$/m);
    assert.match(runtime, /CMD \["node", "dist\/src\/main\.js"\]/);
    assert.doesNotMatch(runtime, /npm ci|tsx/);
  });

  it('docker-compose.yml wires MongoDB, the bot and NGINX with deploy/nginx.conf', () => {
    const compose = parse(read('docker-compose.yml')) as {
      services: Record<
        string,
        { image?: string; build?: string; environment?: Record<string, string>; volumes?: string[]; ports?: string[] }
      >;
    };
    assert.deepEqual(Object.keys(compose.services).sort(), ['bot', 'mongo', 'nginx']);
    assert.match(compose.services.bot!.environment!.MONGODB_URI!, /^mongodb:\/\/mongo:27017\//);
    assert.ok(compose.services.nginx!.volumes!.some((v) => v.startsWith('./deploy/nginx.conf:')));
    assert.ok(!compose.services.bot!.ports, 'the bot is reached through nginx only');
    assert.match(read('deploy/nginx.conf'), /server bot:3000;/);
  });
});
