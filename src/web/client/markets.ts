/**
 * Markets: every market in one table, sortable and searchable, smooth at thousands of rows because
 * only the rows in view exist in the page (a spacer row stands for the others). Sparklines are
 * asked for the rows in view only, a batch at a time.
 */
import type { LiveState, Page, Row } from './app.js';
import { getJson, h, marketPath, num, signedPct, trendClass, utcTime } from './util.js';

const ROW_HEIGHT = 40;
const OVERSCAN = 8;
type SortKey = 'market' | 'last' | 'change' | 'rank';
const COLUMNS: Array<{ key: SortKey; label: string; narrow?: boolean }> = [
  { key: 'market', label: 'Market' },
  { key: 'last', label: 'Last' },
  { key: 'change', label: '24h change' },
  { key: 'rank', label: 'Rank (rsd)' },
];

const sparks = new Map<string, Array<number | null>>();
const sparkAsked = new Set<string>();

function sparkSvg(values: Array<number | null> | undefined): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 96 24');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('aria-hidden', 'true');
  const points = (values ?? []).map((v, i) => [i, v] as const).filter((p): p is [number, number] => p[1] !== null);
  if (points.length > 1) {
    const ys = points.map((p) => p[1]);
    const lo = Math.min(...ys);
    const span = Math.max(...ys) - lo || 1;
    const last = (values?.length ?? 2) - 1 || 1;
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute(
      'points',
      points.map(([i, v]) => `${((i / last) * 96).toFixed(1)},${(22 - ((v - lo) / span) * 20).toFixed(1)}`).join(' '),
    );
    svg.append(line);
  }
  return svg;
}

export function renderMarkets(main: HTMLElement, state: LiveState): Page {
  let query = new URLSearchParams(location.search).get('q') ?? '';
  let sortKey: SortKey = 'rank';
  let ascending = true;
  let list: Row[] = [];
  let drawnVersion = -1;
  let sparkTimer: number | undefined;

  const search = h('input', {
    type: 'search',
    id: 'market-search',
    placeholder: 'btc, eth-eur, kraken…',
    value: query,
    autocomplete: 'off',
    'aria-controls': 'markets-table',
  });
  const count = h('span', { class: 'muted', id: 'market-count', 'aria-live': 'polite' });
  const asOf = h('span', { class: 'muted', id: 'as-of' });
  const method = h('p', { class: 'muted', id: 'rank-method' });
  const headRow = h('tr');
  const thead = h('thead', {}, headRow);
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'markets', id: 'markets-table', 'aria-describedby': 'rank-method' },
    h(
      'colgroup',
      {},
      h('col', { class: 'c-market' }),
      h('col'),
      h('col'),
      h('col', { class: 'hide-narrow' }),
      h('col', { class: 'c-spark' }),
    ),
    thead,
    tbody,
  );
  const scroller = h('div', { class: 'scroller', tabindex: '-1' }, table);
  main.append(
    h('h1', {}, 'Markets'),
    h('div', { class: 'toolbar' }, h('label', { for: 'market-search' }, 'Search markets'), search, count, asOf),
    method,
    scroller,
  );

  const drawHead = () => {
    headRow.replaceChildren(
      ...COLUMNS.map((c) =>
        h(
          'th',
          {
            scope: 'col',
            class: c.key === 'rank' ? 'hide-narrow' : undefined,
            'aria-sort': c.key === sortKey ? (ascending ? 'ascending' : 'descending') : undefined,
          },
          h(
            'button',
            {
              type: 'button',
              'data-sort': c.key,
              onclick: () => {
                if (sortKey === c.key) ascending = !ascending;
                else {
                  sortKey = c.key;
                  ascending = c.key === 'market' || c.key === 'rank';
                }
                drawHead();
                rebuild();
              },
            },
            `${c.label}${c.key === sortKey ? (ascending ? ' ▲' : ' ▼') : ''}`,
          ),
        ),
      ),
      h('th', { scope: 'col' }, '24h'),
    );
  };

  const value = (r: Row): number | string | null => {
    if (sortKey === 'market') return r[0];
    if (sortKey === 'last') return r[1];
    if (sortKey === 'change') return r[2];
    return r[3];
  };

  const rebuild = () => {
    const q = query
      .trim()
      .toLowerCase()
      .replace(/[/_\s]+/g, '-');
    const all = [...state.rows.values()];
    list = q ? all.filter((r) => r[0].includes(q)) : all;
    const dir = ascending ? 1 : -1;
    list.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      // Markets without a figure go last whichever the direction.
      if (va === null || vb === null) return va === vb ? a[0].localeCompare(b[0]) : va === null ? 1 : -1;
      if (typeof va === 'string') return dir * va.localeCompare(vb as string);
      return dir * (va - (vb as number)) || a[0].localeCompare(b[0]);
    });
    count.textContent = `${list.length} of ${state.rows.size} markets`;
    asOf.textContent = state.asOf ? `as of ${utcTime(state.asOf)}` : 'no ticks yet';
    asOf.dataset.asof = String(state.asOf ?? '');
    method.textContent = state.method
      ? `Rank: position among ${state.ranked} markets by ${state.method} of the price, most volatile first.`
      : '';
    drawnVersion = state.version;
    drawRows();
  };

  const drawRows = () => {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const visible = Math.ceil(scroller.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
    const last = Math.min(list.length, first + visible);
    const rows: HTMLTableRowElement[] = [];
    if (first > 0)
      rows.push(h('tr', { class: 'spacer', 'aria-hidden': 'true', style: `height:${first * ROW_HEIGHT}px` }));
    for (let i = first; i < last; i++) {
      const r = list[i]!;
      rows.push(
        h(
          'tr',
          { 'data-market': r[0] },
          h('td', {}, h('a', { href: marketPath(r[0]) }, r[0])),
          h('td', { 'data-col': 'last' }, num(r[1])),
          h('td', { class: trendClass(r[2]) }, signedPct(r[2])),
          h('td', { class: 'hide-narrow' }, r[3] === null ? '–' : `#${r[3]}`),
          h('td', { class: 'spark' }, sparkSvg(sparks.get(r[0]))),
        ),
      );
    }
    if (last < list.length)
      rows.push(
        h('tr', { class: 'spacer', 'aria-hidden': 'true', style: `height:${(list.length - last) * ROW_HEIGHT}px` }),
      );
    if (list.length === 0)
      rows.push(
        h(
          'tr',
          {},
          h(
            'td',
            { colspan: '5' },
            state.rows.size ? 'No market matches.' : 'No markets yet: waiting for the first tick.',
          ),
        ),
      );
    tbody.replaceChildren(...rows);
    askSparks(list.slice(first, last).map((r) => r[0]));
  };

  const askSparks = (ids: string[]) => {
    const wanted = ids.filter((id) => !sparkAsked.has(id)).slice(0, 60);
    if (!wanted.length) return;
    clearTimeout(sparkTimer);
    sparkTimer = window.setTimeout(async () => {
      for (const id of wanted) sparkAsked.add(id);
      try {
        const got = await getJson<Record<string, Array<number | null>>>(
          `/api/v1/sparklines?markets=${wanted.map(encodeURIComponent).join(',')}`,
        );
        for (const [id, values] of Object.entries(got)) sparks.set(id, values);
        drawRows();
      } catch {
        for (const id of wanted) sparkAsked.delete(id);
      }
    }, 120);
  };

  let frame = 0;
  scroller.addEventListener('scroll', () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      drawRows();
    });
  });
  search.addEventListener('input', () => {
    query = search.value;
    const url = new URL(location.href);
    if (query) url.searchParams.set('q', query);
    else url.searchParams.delete('q');
    history.replaceState(null, '', url);
    scroller.scrollTop = 0;
    rebuild();
  });
  const onResize = () => drawRows();
  window.addEventListener('resize', onResize);

  drawHead();
  rebuild();
  return {
    update(s) {
      if (s.version === drawnVersion) return;
      // A new tick: sparklines end at the new hour eventually; ask again once an hour has passed.
      if (s.changed === 'all') sparkAsked.clear();
      rebuild();
    },
    dispose() {
      window.removeEventListener('resize', onResize);
      clearTimeout(sparkTimer);
    },
  };
}
