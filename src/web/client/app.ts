/**
 * The dashboard in the browser: one live stream (server-sent events) feeds every page, a small
 * router draws the page for the address, and the status strip shows each source's last tick.
 */
import './style.css';
import { renderAlerts, renderRankings } from './lists.js';
import { renderMarket } from './market.js';
import { renderMarkets } from './markets.js';
import { age, h } from './util.js';

/** [market, last, 24h change %, rank by 24h rsd, rsd] as the stream sends it. */
export type Row = [string, number | null, number | null, number | null, number | null];

export interface LiveState {
  rows: Map<string, Row>;
  method: string;
  ranked: number;
  asOf: number | null;
  /** Bumped on every snapshot or tick, so pages know what they drew is stale. */
  version: number;
  /** Markets whose row changed in the last event (all of them after a snapshot). */
  changed: Set<string> | 'all';
}

export interface Page {
  /** A tick or snapshot arrived. */
  update?(state: LiveState): void;
  /** The page is left. */
  dispose?(): void;
}

interface SourceStatus {
  source: string;
  tick: number | null;
  status: string | null;
}
interface Status {
  database: boolean;
  sources: SourceStatus[];
  at: number;
}

export const state: LiveState = { rows: new Map(), method: '', ranked: 0, asOf: null, version: 0, changed: 'all' };
let status: Status | undefined;
let connected = false;
let clockSkew = 0;
let page: Page | undefined;

const main = document.getElementById('main') as HTMLElement;
const strip = document.getElementById('status') as HTMLElement;

function drawStatus(): void {
  const parts: Node[] = [];
  if (!connected) parts.push(h('span', { class: 'bad' }, 'Live stream: reconnecting'));
  if (status) {
    parts.push(
      h('span', { class: status.database ? '' : 'bad' }, `Database: ${status.database ? 'answers' : 'not answering'}`),
    );
    const now = Date.now() + clockSkew;
    for (const s of status.sources) {
      const ms = s.tick === null ? null : now - s.tick;
      const stale = ms === null || ms > 3 * 60_000 + 30_000;
      parts.push(
        h(
          'span',
          { class: stale ? 'stale' : '', 'data-source': s.source },
          `${s.source}: ${ms === null ? 'no tick yet' : `last tick ${age(ms)} ago`}${s.status === 'partial' ? ' (partial)' : ''}`,
        ),
      );
    }
  } else if (connected) {
    parts.push(h('span', {}, 'Waiting for status…'));
  }
  strip.replaceChildren(...parts);
}

function applyRows(rows: Row[], removed: string[] = []): void {
  for (const r of rows) state.rows.set(r[0], r);
  for (const id of removed) state.rows.delete(id);
}

function connect(): void {
  const source = new EventSource('/api/v1/stream');
  source.addEventListener('open', () => {
    connected = true;
    drawStatus();
  });
  source.addEventListener('error', () => {
    connected = false;
    drawStatus();
  });
  source.addEventListener('snapshot', (ev) => {
    const data = JSON.parse((ev as MessageEvent<string>).data) as {
      rows: Row[];
      method: string;
      ranked: number;
      asOf: number | null;
    };
    state.rows = new Map();
    applyRows(data.rows);
    Object.assign(state, { method: data.method, ranked: data.ranked, asOf: data.asOf, changed: 'all' });
    state.version += 1;
    page?.update?.(state);
  });
  source.addEventListener('tick', (ev) => {
    const data = JSON.parse((ev as MessageEvent<string>).data) as {
      rows: Row[];
      removed: string[];
      method: string;
      ranked: number;
      asOf: number | null;
    };
    applyRows(data.rows, data.removed);
    Object.assign(state, {
      method: data.method,
      ranked: data.ranked,
      asOf: data.asOf,
      changed: new Set(data.rows.map((r) => r[0])),
    });
    state.version += 1;
    page?.update?.(state);
  });
  source.addEventListener('status', (ev) => {
    status = JSON.parse((ev as MessageEvent<string>).data) as Status;
    clockSkew = status.at - Date.now();
    drawStatus();
  });
}

function route(): void {
  page?.dispose?.();
  page = undefined;
  const path = location.pathname;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('a[data-nav]')) {
    const here = a.getAttribute('href') === path || (a.getAttribute('href') === '/' && path.startsWith('/market/'));
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  const market = /^\/market\/(.+)$/.exec(path);
  if (market) page = renderMarket(main, decodeURIComponent(market[1]!), state);
  else if (path === '/rankings') page = renderRankings(main);
  else if (path === '/alerts') page = renderAlerts(main);
  else page = renderMarkets(main, state);
}

/** Same-origin links change the page without a reload, so the stream stays open. */
export function navigate(path: string): void {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  route();
  main.focus();
  window.scrollTo(0, 0);
}

document.addEventListener('click', (ev) => {
  const a = (ev.target as Element | null)?.closest?.('a');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const href = a.getAttribute('href');
  if (!href?.startsWith('/') || href.startsWith('/api/') || href.startsWith('/docs') || a.target) return;
  ev.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', route);
// The theme follows the system setting; charts take their colours when drawn, so draw again.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', route);
setInterval(drawStatus, 1_000);

drawStatus();
connect();
route();
