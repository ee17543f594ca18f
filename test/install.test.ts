/**
 * A fresh `npm install` prints nothing the user must act on: no dependency's `engines` range excludes
 * the oldest Node that package.json and the README promise (npm's EBADENGINE warning; mongoose 9 and
 * the MongoDB driver 7 need 20.19, a minor above what a major-only comparison sees), and every install
 * script is approved in
 * allowScripts or deliberately refused there (npm 11's install-scripts warning). ccxt's only prints a
 * banner after asking GitHub for its star count: refused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const root = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; hasInstallScript?: boolean }>;
};
const nameOf = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

// npm's range parser, installed under fastify and others rather than named in package.json; it ships no types.
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

/** "Node.js 20.19+" in the README's requirements, as a full version. */
function readmeMinimum(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const stated = /Requirements: Node\.js (\d+)\.(\d+)\+/.exec(readme);
  assert.ok(stated, 'the README states its Node requirement as "Requirements: Node.js X.Y+"');
  return `${stated[1]}.${stated[2]}.0`;
}

describe('a fresh npm install', () => {
  it('package.json engines and the README name the same oldest Node', () => {
    assert.equal(semver.minVersion(pkg.engines.node)?.version, readmeMinimum());
  });

  it('installs no dependency whose engines range excludes the oldest Node we support (major and minor)', () => {
    const oldest = readmeMinimum();
    const excluded = Object.entries(lock.packages)
      .filter(([path, p]) => path && !Array.isArray(p.engines) && p.engines?.node)
      .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node))
      .map(([path, p]) => `${nameOf(path)}@${p.version} (node ${(p.engines as { node: string }).node})`);
    assert.deepEqual(excluded, []);
  });

  it('has a decision in allowScripts for every install script', () => {
    const unapproved = Object.entries(lock.packages)
      .filter(([path, p]) => path && p.hasInstallScript && typeof pkg.allowScripts?.[nameOf(path)] !== 'boolean')
      .map(([path]) => nameOf(path));
    assert.deepEqual(unapproved, []);
  });
});
