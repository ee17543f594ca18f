import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { loadConfig } from '../src/config.js';
import { Alert } from '../src/db/models/index.js';
import { buildServer } from '../src/http/server.js';
import { haveChromium, launchBrowser, type Browser } from './support/browser.js';
import { MINUTE, marketIds, nextTick, seedMarkets, type Seeded } from './support/dashboard-data.js';
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
  id: string;
  tagName: string;
  outerHTML: string;
  value: string;
  parentElement: PageElement | null;
  closest(selector: string): PageElement | null;
  click(): void;
  dispatchEvent(event: Event): boolean;
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
  getElementById(id: string): PageElement | null;
  activeElement: PageElement | null;
  documentElement: { scrollWidth: number; clientWidth: number };
};
declare function getComputedStyle(el: PageElement): { color: string; backgroundColor: string };
declare function requestAnimationFrame(callback: () => void): number;

/** Each page, and an element that shows it has drawn its data. */
const PAGES: Array<[string, string]> = [
  ['/', '#markets-table tbody tr[data-market]'],
  ['/market/sim:btc-usd', '#window-stats .card'],
  ['/rankings', '#rankings section[data-method="rsd"] tbody tr'],
  ['/alerts', '#alerts tbody tr'],
];

/** An rgb()/rgba() colour as [r, g, b, alpha]. */
function rgba(css: string): [number, number, number, number] {
  const parts = /rgba?\(([^)]+)\)/
    .exec(css)?.[1]
    ?.split(/[\s,/]+/)
    .filter(Boolean)
    .map(Number);
  assert.ok(parts && parts.length >= 3, `a colour: ${css}`);
  return [parts[0]!, parts[1]!, parts[2]!, parts[3] ?? 1];
}

/** What a viewer sees behind an element: its ancestors' backgrounds laid over the white canvas. */
function backdrop(layers: string[]): [number, number, number] {
  let seen: [number, number, number] = [255, 255, 255];
  for (const layer of [...layers].reverse()) {
    const [r, g, b, a] = rgba(layer);
    seen = [r * a + seen[0] * (1 - a), g * a + seen[1] * (1 - a), b * a + seen[2] * (1 - a)];
  }
  return seen;
}

/** WCAG 2 relative luminance. */
function luminance([r, g, b]: readonly number[]): number {
  const c = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * c(r!) + 0.7152 * c(g!) + 0.0722 * c(b!);
}

function contrast(a: readonly number[], b: readonly number[]): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

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
    for (const [path, ready] of PAGES) {
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
    // The seed has one spike in btc's 6h (minute 97; minute 0 has no hour before it).
    assert.match((await page.locator('#spike-note').textContent()) ?? '', /^1 past spike marked in this window/);
    assert.match((await page.locator('#spike-note').textContent()) ?? '', /3x the last hour's average/);
    assert.match((await page.locator('#volume-chart').getAttribute('aria-label')) ?? '', /, 1 past spike marked,/);
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
    // The status strip: the source's last tick and its age, and the database answering.
    const source = page.locator('#status [data-source="simulated"]');
    await source.waitFor();
    assert.match((await source.textContent()) ?? '', /^simulated: last tick \d+ (s|min) ago$/);
    assert.match((await page.locator('#status').textContent()) ?? '', /Database: answers/);
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

  it('sorts by a column header, and says which with aria-sort', async () => {
    const { page, errors } = await open('/');
    await marketRows(page).first().waitFor();
    const sortOf = (key: string) =>
      page.locator(`#markets-table th:has(button[data-sort="${key}"])`).getAttribute('aria-sort');
    const column = (n: number) => page.locator(`#markets-table tbody tr[data-market] td:nth-child(${n})`);
    const figure = (text: string) => Number(text.replace(/[#,]/g, ''));
    const ordered = (values: number[], dir: 1 | -1) =>
      values.every((v, i) => i === 0 || dir * (v - values[i - 1]!) >= 0);
    const byName = [...seeded.markets].sort((a, b) => a.localeCompare(b));

    // By rank first, most volatile on top.
    assert.equal(await sortOf('rank'), 'ascending');
    assert.equal(await sortOf('market'), null);
    const ranks = (await column(4).allTextContents()).map(figure);
    assert.equal(ranks[0], 1);
    assert.ok(ordered(ranks, 1), ranks.join(' '));

    const sortButton = page.locator('button[data-sort="market"]');
    await sortButton.click();
    assert.equal(await sortOf('market'), 'ascending');
    assert.equal(await sortOf('rank'), null, 'one column sorted at a time');
    const up = (await column(1).allTextContents()).map((t) => t.trim());
    assert.deepEqual(up, byName.slice(0, up.length));

    await sortButton.click();
    assert.equal(await sortOf('market'), 'descending');
    const down = (await column(1).allTextContents()).map((t) => t.trim());
    assert.deepEqual(down, [...byName].reverse().slice(0, down.length));

    // A figure's column starts with the largest.
    await page.locator('button[data-sort="last"]').click();
    assert.equal(await sortOf('last'), 'descending');
    assert.match((await page.locator('button[data-sort="last"]').textContent()) ?? '', /▼$/);
    const lasts = (await column(2).allTextContents()).map(figure);
    assert.ok(lasts.length > 10 && ordered(lasts, -1), lasts.join(' '));
    await page.locator('button[data-sort="change"]').click();
    await page.locator('button[data-sort="change"]').click();
    assert.equal(await sortOf('change'), 'ascending');
    const changes = (await column(3).allTextContents()).map((t) => Number(t.replace('%', '')));
    assert.ok(changes[0]! < 0 && ordered(changes, 1), changes.join(' '));
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('ranks the markets top and bottom by each method, and states the method', async () => {
    const { page, errors } = await open('/rankings');
    await page.locator('#rankings section[data-method="std"] tbody tr').first().waitFor({ timeout: 15_000 });
    const methods = () =>
      page
        .locator('#rankings > section[data-method]')
        .evaluateAll((list) => list.map((e) => e.getAttribute('data-method')));
    assert.deepEqual(await methods(), ['rsd', 'logret', 'std']);
    assert.match(
      (await page.locator('main').textContent()) ?? '',
      /Most volatile first\. The relative std dev \(std\/mean\) compares markets at any price/,
    );
    const labels: Record<string, string> = {
      rsd: 'Relative std dev',
      logret: 'Log-return std dev',
      std: 'Raw std dev',
    };
    for (const [by, label] of Object.entries(labels)) {
      const res = await fetch(`${base}/api/v1/rankings?metric=price&window=24h&by=${by}&limit=10`);
      const api = (await res.json()) as {
        method: string;
        total: number;
        top: Array<{ market: string }>;
        bottom: Array<{ market: string }>;
      };
      assert.equal(api.top.length, 10);
      const section = page.locator(`#rankings section[data-method="${by}"]`);
      assert.match(api.method, /\S/);
      assert.equal(await section.locator('h2').textContent(), `${label}: ${api.method}`);
      assert.match((await section.locator('p.muted').textContent()) ?? '', new RegExp(`^${api.total} markets ranked`));
      const tables = section.locator('table');
      assert.equal(await tables.count(), 2, by);
      assert.equal(await tables.nth(0).locator('caption').textContent(), 'Top 10: most volatile');
      assert.equal(await tables.nth(1).locator('caption').textContent(), 'Bottom 10: least volatile');
      const marketsIn = async (i: number) =>
        (await tables.nth(i).locator('tbody td:nth-child(2)').allTextContents()).map((t) => t.trim());
      assert.deepEqual(
        await marketsIn(0),
        api.top.map((r) => r.market),
        `${by} top`,
      );
      assert.deepEqual(
        await marketsIn(1),
        api.bottom.map((r) => r.market),
        `${by} bottom`,
      );
      const positions = (await tables.nth(1).locator('tbody td:nth-child(1)').allTextContents()).map(Number);
      assert.equal(positions.at(-1), api.total, `${by}: the bottom table ends with the last position`);
    }
    // Volume has no log returns: that method's section goes.
    await page.getByLabel('Metric').selectOption('volume');
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('#rankings > section[data-method]')).length === 2,
    );
    assert.deepEqual(await methods(), ['rsd', 'std']);
    assert.deepEqual(errors, []);
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

  it('names every control, and its text passes WCAG AA contrast in the light and the dark theme', async (t) => {
    for (const [path, ready] of PAGES) {
      const { page } = await open(path);
      await page.locator(ready).first().waitFor({ timeout: 15_000 });
      // No helper functions inside: the test runner's transform would name them with a function
      // the page does not have.
      const unnamed = await page.evaluate(() => {
        const missing: string[] = [];
        for (const el of Array.from(
          document.querySelectorAll('input, select, textarea, button, [role="button"], a[href], [role="img"]'),
        )) {
          const sources = [
            el.getAttribute('aria-label'),
            el.getAttribute('title'),
            el.id === '' ? null : document.querySelector(`label[for="${el.id}"]`)?.textContent,
            el.closest('label')?.textContent,
            ['BUTTON', 'A'].includes(el.tagName) ? el.textContent : null,
            ...(el.getAttribute('aria-labelledby') ?? '')
              .split(/\s+/)
              .filter(Boolean)
              .map((id) => document.getElementById(id)?.textContent),
          ];
          if (!sources.some((t) => (t ?? '').trim() !== '')) missing.push(el.outerHTML.slice(0, 160));
        }
        return missing;
      });
      assert.deepEqual(unnamed, [], `${path}: controls without an accessible name`);
      await page.close();
    }

    const { page, errors } = await open('/');
    await page.locator('#markets-table td.up').first().waitFor();
    await page.locator('#markets-table td.down').first().waitFor();
    await page.locator('#status [data-source]').first().waitFor();
    const pairs: Array<[string, string]> = [
      ['text', 'main h1'],
      ['muted text', '#market-count'],
      ['link', '#markets-table tbody tr[data-market] a'],
      ['up', '#markets-table td.up'],
      ['down', '#markets-table td.down'],
      ['status strip', '#status [data-source]'],
      ['page link in the header', '.top nav a:not([aria-current])'],
      ['up on a hovered row', '#markets-table tr:hover td.up'],
    ];
    const measure = async () => {
      await page.locator('#markets-table td.up').first().hover();
      const sampled = await page.evaluate((list) => {
        const out: Record<string, { color: string; layers: string[] } | null> = {};
        for (const [name, selector] of list) {
          const el = document.querySelector(selector);
          if (!el) {
            out[name] = null;
            continue;
          }
          const layers: string[] = [];
          for (let e: PageElement | null = el; e; e = e.parentElement) layers.push(getComputedStyle(e).backgroundColor);
          out[name] = { color: getComputedStyle(el).color, layers };
        }
        return out;
      }, pairs);
      const ratios: Record<string, number> = {};
      for (const [name] of pairs) {
        const got = sampled[name];
        assert.ok(got, `${name}: an element to measure`);
        const back = backdrop(got.layers);
        const [r, g, b, a] = rgba(got.color);
        ratios[name] = contrast(
          [r * a + back[0] * (1 - a), g * a + back[1] * (1 - a), b * a + back[2] * (1 - a)],
          back,
        );
      }
      return { ratios, page: luminance(backdrop(sampled.text!.layers)) };
    };
    const light = await measure();
    assert.ok(light.page > 0.8, `a light page in the light theme (luminance ${light.page})`);
    await page.emulateMedia({ colorScheme: 'dark' });
    // The page draws itself again on the change; wait for its rows.
    await page.locator('#markets-table td.up').first().waitFor();
    const dark = await measure();
    assert.ok(dark.page < 0.05, `a dark page in the dark theme (luminance ${dark.page})`);
    for (const [theme, { ratios }] of Object.entries({ light, dark })) {
      for (const [name, ratio] of Object.entries(ratios))
        assert.ok(ratio >= 4.5, `${theme} theme, ${name}: contrast ${ratio.toFixed(2)}:1 is under 4.5:1`);
      const [lowest, ratio] = Object.entries(ratios).sort((a, b) => a[1] - b[1])[0]!;
      t.diagnostic(`${theme} theme: lowest contrast ${ratio.toFixed(2)}:1 (${lowest})`);
    }
    assert.deepEqual(errors, []);
    await page.close();
  });

  describe('at 5,000 markets', () => {
    const MANY = 5_000;
    let seedMs = 0;

    before(async () => {
      // One minute on from the last tick, a minute of history for the new markets: the stream
      // pushes them to open pages as one tick.
      const started = performance.now();
      const many = await seedMarkets(MANY, 2, seeded.tick + MINUTE);
      seedMs = performance.now() - started;
      seeded.tick = many.tick;
    });

    it('draws only the rows in view, scrolls to the last market, sorts and filters', async (t) => {
      const { page, errors } = await open('/');
      const counted = (n: number, of: number) =>
        page.waitForFunction(
          (want) => (document.querySelector('#market-count')?.textContent ?? '').startsWith(want),
          `${n} of ${of} markets`,
          { timeout: 30_000 },
        );
      await counted(MANY, MANY);
      await marketRows(page).first().waitFor();
      const bounded = async () => {
        const drawn = await marketRows(page).count();
        assert.ok(drawn > 10 && drawn <= 60, `${drawn} row elements for ${MANY} markets`);
      };
      await bounded();

      // Sorted by name, then scrolled to the end: the last market is the last row.
      const sortMs = await page.evaluate(() => {
        const started = performance.now();
        document.querySelector('button[data-sort="market"]')!.click();
        return performance.now() - started;
      });
      const last = marketIds(MANY)
        .sort((a, b) => a.localeCompare(b))
        .at(-1)!;
      const scrollMs = await page.evaluate(async () => {
        const scroller = document.querySelector('.scroller')!;
        const started = performance.now();
        scroller.scrollTop = scroller.scrollHeight;
        // The scroll redraws on the next frame; the frame after it has it on screen.
        await new Promise<void>((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
        return performance.now() - started;
      });
      await page.locator(`#markets-table tbody tr[data-market="${last}"]`).waitFor();
      assert.equal(await marketRows(page).last().getAttribute('data-market'), last);
      await bounded();

      // The search still filters all 5,000.
      const want = marketIds(MANY).filter((id) => id.includes('doge41'));
      const searchMs = await page.evaluate(() => {
        const search = document.querySelector('#market-search')!;
        const started = performance.now();
        search.value = 'doge41';
        search.dispatchEvent(new Event('input', { bubbles: true }));
        return performance.now() - started;
      });
      await counted(want.length, MANY);
      const found = await marketRows(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-market')));
      assert.deepEqual(
        found,
        [...want].sort((a, b) => a.localeCompare(b)),
      );
      await page.getByLabel('Search markets').fill('');
      await counted(MANY, MANY);
      await bounded();
      t.diagnostic(
        `${MANY} markets: seeded in ${Math.round(seedMs)} ms; in the page, sort by name ${sortMs.toFixed(1)} ms, ` +
          `scroll to the end and draw ${scrollMs.toFixed(1)} ms, filter ${searchMs.toFixed(1)} ms`,
      );
      assert.deepEqual(errors, []);
      await page.close();
    });
  });
});
