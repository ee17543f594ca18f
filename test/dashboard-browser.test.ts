import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { loadConfig } from '../src/config.js';
import { Alert } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { haveChromium, launchBrowser, type Browser } from './support/browser.js';
import { nextTick, seedMarkets, type Seeded } from './support/dashboard-data.js';
import { useTestDatabase } from './support/db.js';

const MARKETS = 150;

/**
 * The little of the DOM the functions run in the page use: the tests compile without the DOM
 * library (it would retype Node's own fetch and Buffer), and these names exist in the page.
 */
interface PageElement {
  getAttribute(name: string): string | null;
  textContent: string | null;
  scrollTop: number;
  scrollHeight: number;
  pathname?: string;
}
interface PageCanvas {
  width: number;
  height: number;
  getContext(
    kind: '2d',
  ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll<T = PageElement>(selector: string): Iterable<T> & ArrayLike<T>;
  activeElement: PageElement | null;
  documentElement: { scrollWidth: number; clientWidth: number };
};

describe('the dashboard in a real browser', { skip: haveChromium ? false : 'chromium is not installed' }, () => {
  let app: FastifyInstance;
  let base: string;
  let seeded: Seeded;
  let browser: Browser;
  after(async () => {
    await browser?.close();
    await app?.close();
  });
  useTestDatabase('dashboard_browser');

  before(async () => {
    seeded = await seedMarkets(MARKETS, 150);
    await Alert.create({
      key: 'browser-1',
      subscriptionId: '64b000000000000000000001',
      channel: 'slack:T1:C1',
      market: 'sim:eth-usd',
      metric: 'volume',
      ts: new Date(seeded.tick),
      value: 84,
      baseline: 6.5,
      ratio: 12.9,
      factor: 3,
      points: 60,
      status: 'sent',
    });
    app = await buildServer({ config: loadConfig({ MARKET_SOURCE: 'simulated' }), livePollMs: 100 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    browser = await launchBrowser();
  });

  /** Opens a page and collects every console error and uncaught exception it reports. */
  async function open(path: string, viewport?: { width: number; height: number }) {
    const page = await browser.context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}${path}`);
    return { page, errors };
  }

  const marketRows = (page: Page) => page.locator('#markets-table tbody tr[data-market]');

  it('loads each page with no console error', async () => {
    const checks: Array<[string, string]> = [
      ['/', '#markets-table tbody tr[data-market]'],
      ['/market/sim:btc-usd', '#window-stats .card'],
      ['/rankings', '#rankings section[data-method="rsd"] tbody tr'],
      ['/alerts', '#alerts tbody tr'],
    ];
    for (const [path, ready] of checks) {
      const { page, errors } = await open(path);
      await page.locator(ready).first().waitFor({ timeout: 15_000 });
      assert.deepEqual(errors, [], `${path}: ${errors.join('\n')}`);
      await page.close();
    }
  });

  it('draws the charts with non-blank pixels, with the rank and window statistics', async () => {
    const { page, errors } = await open('/market/sim:btc-usd?window=6h');
    await page.locator('#price-chart canvas').first().waitFor();
    await page.locator('#volume-chart canvas').first().waitFor();
    for (const id of ['price-chart', 'volume-chart']) {
      const coloured = await page.waitForFunction((chartId) => {
        let best = 0;
        for (const canvas of Array.from(document.querySelectorAll<PageCanvas>(`#${chartId} canvas`))) {
          if (!canvas.width || !canvas.height) continue;
          const ctx = canvas.getContext('2d');
          if (!ctx) continue;
          const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
          const colours = new Set<number>();
          let painted = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3]! === 0) continue;
            painted += 1;
            colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
          }
          if (colours.size > 3) best = Math.max(best, painted);
        }
        return best > 500 ? best : false;
      }, id);
      assert.ok(Number(await coloured.jsonValue()) > 500, id);
    }
    assert.match((await page.locator('#market-rank').textContent()) ?? '', /#\d+ of \d+ by 6h relative std dev/);
    assert.ok((await page.locator('#window-stats .card').count()) >= 6);
    assert.match((await page.locator('#spike-note').textContent()) ?? '', /3x the last hour's average/);
    assert.equal(await page.locator('[data-window="6h"]').getAttribute('aria-pressed'), 'true');
    await page.locator('[data-window="1h"]').click();
    await page.waitForFunction(() =>
      /1h relative std dev/.test(document.querySelector('#market-rank')?.textContent ?? ''),
    );
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('shows a new tick without a reload, and only the rows in view exist', async () => {
    const { page, errors } = await open('/');
    await marketRows(page).first().waitFor();
    assert.equal(await page.locator('#as-of').getAttribute('data-asof'), String(seeded.tick));
    const drawn = await marketRows(page).count();
    assert.ok(drawn > 10 && drawn < MARKETS, `${drawn} rows drawn of ${MARKETS}`);
    assert.match((await page.locator('#market-count').textContent()) ?? '', new RegExp(`${MARKETS} of ${MARKETS}`));
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    const tick = await nextTick(seeded, 900);
    await page.waitForFunction((t) => document.querySelector('#as-of')?.getAttribute('data-asof') === t, String(tick), {
      timeout: 15_000,
    });
    assert.deepEqual(navigations, [], 'no reload');
    // Scrolled to the end, the last market is drawn.
    await page.locator('.scroller').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.locator('#markets-table tbody tr[data-market]').last().waitFor();
    await page.waitForFunction(
      (n) => Array.from(document.querySelectorAll('#markets-table tbody tr[data-market]')).length < n,
      MARKETS,
    );
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('filters the markets as one types in the search box', async () => {
    const { page } = await open('/');
    await marketRows(page).first().waitFor();
    await page.getByLabel('Search markets').fill('eth');
    await page.waitForFunction(() =>
      Array.from(document.querySelectorAll('#markets-table tbody tr[data-market]')).every((r) =>
        (r.getAttribute('data-market') ?? '').includes('eth'),
      ),
    );
    const ids = await marketRows(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-market')));
    assert.ok(ids.length >= 2 && ids.includes('sim:eth-usd'), ids.join(','));
    assert.match((await page.locator('#market-count').textContent()) ?? '', new RegExp(`^${ids.length} of ${MARKETS}`));
    await page.getByLabel('Search markets').fill('no-such-market');
    await page.getByText('No market matches.').waitFor();
    await page.close();
  });

  it('reaches a market page with the keyboard alone', async () => {
    const { page } = await open('/');
    await marketRows(page).first().waitFor();
    let reached = '';
    for (let i = 0; i < 25 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => {
        const a = document.activeElement;
        return a?.pathname?.startsWith('/market/') ? a.pathname : '';
      });
    }
    assert.ok(reached, 'a market link takes the focus');
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.pathname === reached);
    await page.locator('#window-stats .card').first().waitFor();
    assert.match((await page.locator('h1').textContent()) ?? '', /^sim:/);
    await page.close();
  });

  it('holds its layout at 375 px: no horizontal scroll on any page', async () => {
    for (const path of ['/', '/market/sim:eth-usd', '/rankings', '/alerts']) {
      const { page, errors } = await open(path, { width: 375, height: 740 });
      await page.locator('main h1').waitFor();
      await page.waitForLoadState('networkidle');
      const { scroll, client } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      assert.ok(scroll <= client, `${path}: ${scroll} px wide in a ${client} px window`);
      assert.deepEqual(errors, [], path);
      await page.close();
    }
  });
});
