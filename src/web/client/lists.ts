/** Rankings (top and bottom by each method, the method stated) and recent alerts. */
import type { LiveState, Page } from './app.js';
import { getJson, h, marketPath, num, pctOfFraction, utcTime } from './util.js';

interface RankingRow {
  position: number;
  market: string;
  value: number | null;
  std: number | null;
  rsd: number | null;
  last: number | null;
  count: number;
}
interface Ranking {
  method: string;
  total: number;
  excluded: number;
  top: RankingRow[];
  bottom: RankingRow[];
  asOf: string | null;
}

const METHODS: Array<{ by: string; label: string }> = [
  { by: 'rsd', label: 'Relative std dev' },
  { by: 'logret', label: 'Log-return std dev' },
  { by: 'std', label: 'Raw std dev' },
];

function rankingTable(caption: string, rows: RankingRow[], by: string): HTMLTableElement {
  const fmt = (v: number | null) => (by === 'std' ? num(v) : pctOfFraction(v));
  return h(
    'table',
    {},
    h('caption', { class: 'muted', style: 'text-align:left' }, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', style: 'width:3.5em' }, '#'),
        h('th', { scope: 'col' }, 'Market'),
        h('th', { scope: 'col' }, 'Value'),
        h('th', { scope: 'col', class: 'hide-narrow' }, 'Last'),
      ),
    ),
    h(
      'tbody',
      {},
      ...rows.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, String(r.position)),
          h('td', { style: 'text-align:left' }, h('a', { href: marketPath(r.market) }, r.market)),
          h('td', {}, fmt(r.value)),
          h('td', { class: 'hide-narrow' }, num(r.last)),
        ),
      ),
    ),
  );
}

export function renderRankings(main: HTMLElement): Page & { update(s: LiveState): void } {
  let controller: AbortController | undefined;
  const metric = h(
    'select',
    { id: 'ranking-metric' },
    h('option', { value: 'price' }, 'Price'),
    h('option', { value: 'volume' }, 'Volume per minute'),
    h('option', { value: 'change' }, '24h change'),
  );
  const window_ = h(
    'select',
    { id: 'ranking-window' },
    ...['1h', '6h', '24h', '7d'].map((w) => h('option', { value: w, selected: w === '24h' }, w)),
  );
  const body = h('div', { id: 'rankings' });
  main.append(
    h('h1', {}, 'Rankings'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'ranking-metric' }, 'Metric'),
      metric,
      h('label', { for: 'ranking-window' }, 'Window'),
      window_,
    ),
    h(
      'p',
      { class: 'muted' },
      'Most volatile first. The relative std dev (std/mean) compares markets at any price; the raw std dev grows with the price, so it is shown for reference.',
    ),
    body,
  );
  const load = async () => {
    controller?.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const methods = metric.value === 'price' ? METHODS : METHODS.filter((m) => m.by !== 'logret');
    try {
      const answers = await Promise.all(
        methods.map((m) =>
          getJson<Ranking>(
            `/api/v1/rankings?metric=${metric.value}&window=${window_.value}&by=${m.by}&limit=10`,
            signal,
          ),
        ),
      );
      body.replaceChildren(
        ...answers.map((r, i) =>
          h(
            'section',
            { 'data-method': methods[i]!.by },
            h('h2', {}, `${methods[i]!.label}: ${r.method}`),
            h(
              'p',
              { class: 'muted' },
              `${r.total} markets ranked${r.excluded ? `, ${r.excluded} with too few points left out` : ''}; as of ${utcTime(r.asOf)}.`,
            ),
            h(
              'div',
              { class: 'grid2' },
              h('section', {}, rankingTable(`Top ${r.top.length}: most volatile`, r.top, methods[i]!.by)),
              h('section', {}, rankingTable(`Bottom ${r.bottom.length}: least volatile`, r.bottom, methods[i]!.by)),
            ),
          ),
        ),
      );
    } catch (err) {
      if ((err as Error).name !== 'AbortError')
        body.replaceChildren(
          h('p', { class: 'error', role: 'alert' }, `Could not load rankings: ${(err as Error).message}`),
        );
    }
  };
  metric.addEventListener('change', () => void load());
  window_.addEventListener('change', () => void load());
  void load();
  let asOf: number | null | undefined;
  return {
    update(s) {
      if (asOf !== undefined && s.asOf !== asOf) void load();
      asOf = s.asOf;
    },
    dispose: () => controller?.abort(),
  };
}

interface AlertItem {
  market: string;
  metric: string;
  ts: string;
  value: number;
  baseline: number;
  ratio: number;
  factor: number;
  status: string;
  channel?: string;
}

export function renderAlerts(main: HTMLElement): Page {
  let controller: AbortController | undefined;
  const body = h('div', { id: 'alerts' });
  main.append(
    h('h1', {}, 'Alerts'),
    h(
      'p',
      { class: 'muted' },
      "Spike alerts, newest first: a point above its subscription's factor times the average of the hour before it (the point itself excluded).",
    ),
    body,
  );
  const load = async () => {
    controller?.abort();
    controller = new AbortController();
    try {
      const { items } = await getJson<{ items: AlertItem[] }>('/api/v1/alerts?limit=100', controller.signal);
      const channels = items.some((a) => a.channel !== undefined);
      if (!items.length) {
        body.replaceChildren(h('p', {}, 'No alerts yet. /track a market in chat to get spike alerts.'));
        return;
      }
      body.replaceChildren(
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col', class: 'hide-narrow' }, 'Time'),
              h('th', { scope: 'col' }, 'Market'),
              h('th', { scope: 'col', class: 'hide-narrow' }, 'Metric'),
              h('th', { scope: 'col' }, 'Value'),
              h('th', { scope: 'col' }, 'Baseline (1h)'),
              h('th', { scope: 'col' }, 'Ratio'),
              h('th', { scope: 'col', class: 'hide-narrow' }, 'Status'),
              channels ? h('th', { scope: 'col', class: 'hide-narrow' }, 'Channel') : null,
            ),
          ),
          h(
            'tbody',
            {},
            ...items.map((a) =>
              h(
                'tr',
                {},
                h('td', { class: 'hide-narrow' }, utcTime(a.ts)),
                h('td', {}, h('a', { href: marketPath(a.market) }, a.market)),
                h('td', { class: 'hide-narrow' }, a.metric),
                h('td', {}, num(a.value)),
                h('td', {}, num(a.baseline)),
                h('td', {}, `${num(a.ratio, 3)}x`),
                h('td', { class: 'hide-narrow' }, a.status),
                channels ? h('td', { class: 'hide-narrow' }, a.channel ?? '') : null,
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      if ((err as Error).name !== 'AbortError')
        body.replaceChildren(
          h('p', { class: 'error', role: 'alert' }, `Could not load alerts: ${(err as Error).message}`),
        );
    }
  };
  void load();
  let asOf: number | null | undefined;
  return {
    update(s) {
      if (asOf !== undefined && s.asOf !== asOf) void load();
      asOf = s.asOf;
    },
    dispose: () => controller?.abort(),
  };
}
