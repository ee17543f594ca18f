/**
 * Bundles the dashboard's browser code (src/web/client) and its chart library into dist/web:
 * content-hashed file names (served as immutable), an index.html that names them, and gzip and
 * brotli copies made once here instead of on every request. Nothing is fetched from a CDN.
 *
 *   tsx src/web/build.ts             build
 *   tsx src/web/build.ts --if-stale  build only when a client file is newer than the last build
 *
 * `npm run build` runs it after tsc; `npm start`, `npm run demo` and `npm test` run it with
 * --if-stale first, so a fresh clone shows the dashboard without a separate step.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { webPaths } from './paths.js';

export interface WebManifest {
  /** Logical name (app.js, app.css) -> hashed file name. */
  files: Record<string, string>;
  builtAt: string;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const s = statSync(path);
    newest = Math.max(newest, s.isDirectory() ? newestMtime(path) : s.mtimeMs);
  }
  return newest;
}

export function webBuildIsStale(): boolean {
  const { clientDir, outDir, manifest } = webPaths();
  if (!existsSync(manifest)) return true;
  const built = statSync(manifest).mtimeMs;
  return (
    newestMtime(clientDir) > built || statSync(join(clientDir, '..', 'build.ts')).mtimeMs > built || !existsSync(outDir)
  );
}

function html(files: Record<string, string>): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>crypto-chatops markets</title>
<link rel="stylesheet" href="/assets/${files['app.css']}">
<script type="module" src="/assets/${files['app.js']}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<nav aria-label="Pages"><a href="/" data-nav>Markets</a><a href="/rankings" data-nav>Rankings</a><a href="/alerts" data-nav>Alerts</a></nav>
<div id="status" class="status" role="status" aria-live="polite">Connecting…</div>
</header>
<main id="main" tabindex="-1"><noscript>The dashboard needs JavaScript; the same data is at <a href="/api/v1/markets">/api/v1</a>.</noscript></main>
</body>
</html>
`;
}

export async function buildWeb(): Promise<WebManifest> {
  const { build } = await import('esbuild');
  const { clientDir, outDir, manifest } = webPaths();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: { app: join(clientDir, 'app.ts') },
    bundle: true,
    format: 'esm',
    target: ['es2020'],
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    outdir: join(outDir, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    loader: { '.css': 'css' },
  });
  const files: Record<string, string> = {};
  for (const out of Object.keys(result.metafile.outputs)) {
    const name = basename(out);
    const logical = name.replace(/-[A-Z0-9]{8}(\.[a-z.]+)$/, '$1');
    files[logical] = name;
  }
  if (!files['app.js'] || !files['app.css'])
    throw new Error(`web build is missing app.js or app.css: ${Object.keys(files)}`);
  writeFileSync(join(outDir, 'index.html'), html(files));
  for (const dir of [outDir, join(outDir, 'assets')]) {
    for (const name of readdirSync(dir)) {
      if (!/\.(js|css|html|txt)$/.test(name)) continue;
      const body = readFileSync(join(dir, name));
      writeFileSync(join(dir, `${name}.gz`), gzipSync(body, { level: 9 }));
      writeFileSync(
        join(dir, `${name}.br`),
        brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
      );
    }
  }
  const out: WebManifest = { files, builtAt: new Date().toISOString() };
  writeFileSync(manifest, `${JSON.stringify(out, null, 2)}\n`);
  return out;
}

export function hashOf(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('base64url').slice(0, 16);
}

if (process.argv[1] && /build\.(ts|js)$/.test(process.argv[1]) && import.meta.url.endsWith(basename(process.argv[1]))) {
  if (process.argv.includes('--if-stale') && !webBuildIsStale()) process.exit(0);
  const started = Date.now();
  const built = await buildWeb();
  console.log(`dashboard assets built in ${Date.now() - started} ms: ${Object.values(built.files).join(', ')}`);
}
