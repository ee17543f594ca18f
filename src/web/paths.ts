/**
 * Where the dashboard's sources and built assets live. The same code runs from src/ (tsx) and from
 * dist/src/ (compiled), at different depths, so the repository root is found by its package.json.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

export function webPaths(): { root: string; clientDir: string; outDir: string; manifest: string } {
  const root = findRoot(import.meta.dirname);
  const outDir = join(root, 'dist', 'web');
  return { root, clientDir: join(root, 'src', 'web', 'client'), outDir, manifest: join(outDir, 'manifest.json') };
}
