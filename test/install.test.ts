/**
 * A fresh `npm install` prints nothing the user must act on: no dependency asks for a newer Node
 * than the README's 20.10 (npm's EBADENGINE warning), and every install script is approved in
 * allowScripts or deliberately refused there (npm 11's install-scripts warning). ccxt's only prints a
 * banner after asking GitHub for its star count: refused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

/** The lowest Node major a range such as ">=22", ">= 18.0.0" or "^20.19 || >=22" accepts. */
function lowestMajor(range: string): number {
  const majors = range.split('||').map((part) => Number(/(\d+)/.exec(part)?.[1] ?? 0));
  return Math.min(...majors);
}

describe('a fresh npm install', () => {
  it('installs no dependency that requires a newer Node than package.json engines', () => {
    const ours = lowestMajor(pkg.engines.node);
    const tooNew = Object.entries(lock.packages)
      .filter(([path, p]) => path && !Array.isArray(p.engines) && p.engines?.node && lowestMajor(p.engines.node) > ours)
      .map(([path, p]) => `${nameOf(path)}@${p.version} (node ${(p.engines as { node: string }).node})`);
    assert.deepEqual(tooNew, []);
  });

  it('has a decision in allowScripts for every install script', () => {
    const unapproved = Object.entries(lock.packages)
      .filter(([path, p]) => path && p.hasInstallScript && typeof pkg.allowScripts?.[nameOf(path)] !== 'boolean')
      .map(([path]) => nameOf(path));
    assert.deepEqual(unapproved, []);
  });
});
