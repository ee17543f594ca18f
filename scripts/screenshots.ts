/**
 * `npm run docs:screenshots`: runs the offline demo's setup (embedded database, simulated source
 * with a day of history and regular volume spikes) in its own data directory, waits for the
 * statistics of a first tick, and photographs the dashboard with Debian's Chromium into docs/img/.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { startApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { demoOverrides } from '../src/demo.js';
import { initLogger } from '../src/logger.js';
import { buildWeb, webBuildIsStale } from '../src/web/build.js';
import { launchBrowser } from '../test/support/browser.js';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'docs', 'img');
const dataDir = join(root, '.data', 'screenshots');

if (webBuildIsStale()) await buildWeb();
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// The demo's settings, in a data directory of its own.
const config = loadConfig(undefined, {
  ...demoOverrides(dataDir),
  DATA_DIR: dataDir,
  HTTP_PORT: '0',
  LOG_LEVEL: 'warn',
});
initLogger(config, { file: join(dataDir, 'bot.log') });
const app = await startApp(config, {
  console: true,
  input: new PassThrough(),
  output: new Writable({ write: (_c, _e, done) => done() }),
  prompt: '',
});
try {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const res = await fetch(`${app.httpUrl}/api/v1/rankings`);
    const body = (await res.json()) as { total?: number };
    if ((body.total ?? 0) > 0) break;
    if (Date.now() > deadline) throw new Error('no ranked market within 5 minutes');
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const shots: Array<{ file: string; path: string; width: number; height: number; dark?: boolean; ready: string }> = [
    { file: 'dashboard-markets.png', path: '/', width: 1280, height: 760, ready: '#markets-table svg.spark polyline' },
    {
      file: 'dashboard-market.png',
      path: '/market/sim:btc-usd?window=6h',
      width: 1280,
      height: 1100,
      ready: '#volume-chart canvas',
    },
    {
      file: 'dashboard-rankings-dark.png',
      path: '/rankings',
      width: 1280,
      height: 900,
      dark: true,
      ready: '#rankings tbody tr',
    },
    {
      file: 'dashboard-mobile.png',
      path: '/market/sim:eth-usd',
      width: 375,
      height: 900,
      dark: true,
      ready: '#price-chart canvas',
    },
  ];
  for (const shot of shots) {
    const browser = await launchBrowser({ width: shot.width, height: shot.height, dark: shot.dark });
    try {
      const page = await browser.context.newPage();
      await page.goto(`${app.httpUrl}${shot.path}`);
      await page.locator(shot.ready).first().waitFor({ timeout: 30_000 });
      await page.waitForLoadState('networkidle');
      await page.screenshot({ path: join(out, shot.file) });
      console.log(`docs/img/${shot.file}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  await app.shutdown('screenshots taken');
}
process.exit(0);
