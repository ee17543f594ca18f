/**
 * The dashboard's live stream: one server-sent-events feed per process, whatever the number of
 * viewers.
 *
 * The process serving viewers may not be the one collecting (replicas), so what drives the stream
 * is what every replica can see in the database, watched by one poller per process: the window statistics' version, bumped once a tick's statistics are all written
 * (queries.ts `readStatsVersion`), and the `collector_runs` records (status ok or partial) for the
 * status strip. On a new version it reads the figures once through queries.ts, serialises the
 * rows that changed once, and writes the same bytes to every viewer. The collecting process also
 * calls `poke()` when its scheduler stores a tick, so there the push does not wait for the poll.
 *
 * Event ids are tick times, so a viewer that reconnects with `Last-Event-ID` gets the events it
 * missed from a small ring buffer, or a full snapshot when it was away longer than the ring holds.
 * A viewer whose socket buffer grows past a bound (it reads slower than ticks arrive) is dropped
 * rather than buffered without limit; its browser reconnects and resumes.
 */
import type { ServerResponse } from 'node:http';
import { CollectorRun } from '../db/models/index.js';
import type { Logger } from '../logger.js';
import { getMarketOverview, readStatsVersion, type MarketOverview, type OverviewRow } from '../market/queries.js';

/** A row as it travels: [market, last, 24h change %, rank, rsd]. Short, because every viewer gets it. */
export type WireRow = [string, number | null, number | null, number | null, number | null];

export interface SourceStatus {
  source: string;
  /** The source's newest tick that wrote data (ok or partial), ms since the epoch. */
  tick: number | null;
  status: string | null;
}

export interface StreamStatus {
  /** Whether the database answered the last poll. */
  database: boolean;
  sources: SourceStatus[];
  /** When this status was read (server clock, ms), so ages are computed against it. */
  at: number;
}

export interface LiveOptions {
  logger: Logger;
  /** How often the statistics' version is read (default 100 ms): the most a push waits for the poller. */
  pollMs?: number;
  /** How often the per-source status is read again without a new tick (default 5 s). */
  statusMs?: number;
  /** Heartbeat comment interval (default 15 s), so proxies and browsers keep an idle stream open. */
  heartbeatMs?: number;
  /** Events kept for viewers that reconnect (default 30 ticks). */
  ringSize?: number;
  /** A viewer with more unsent bytes than this is dropped (default 1 MiB, at least twice a snapshot). */
  maxBufferBytes?: number;
  /** Sources to report in the status strip even before their first tick. */
  sources?: readonly string[];
}

interface StoredEvent {
  id: string;
  bytes: Buffer;
}

const SUCCESSFUL: Array<'ok' | 'partial'> = ['ok', 'partial'];
const HEARTBEAT = Buffer.from(':\n\n');

/** 8 significant digits: enough for any price on a screen, and a third of a full double's length. */
function compact(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return Number(value.toPrecision(8));
}

export function toWire(row: OverviewRow): WireRow {
  return [row.market, compact(row.last), compact(row.changePct), row.rank, compact(row.rsd)];
}

function sameRow(a: WireRow, b: WireRow): boolean {
  return a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4];
}

function frame(event: string, id: string | undefined, data: unknown): Buffer {
  return Buffer.from(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

export class LiveStream {
  private readonly viewers = new Set<ServerResponse>();
  private readonly ring: StoredEvent[] = [];
  private readonly logger: Logger;
  private readonly pollMs: number;
  private readonly statusMs: number;
  private readonly heartbeatMs: number;
  private readonly ringSize: number;
  private readonly maxBufferBytes: number;
  private readonly knownSources: Set<string>;
  private rows = new Map<string, WireRow>();
  private overview: { method: string; ranked: number; asOf: number | null } | undefined;
  private lastId: string | undefined;
  private snapshotBytes: Buffer | undefined;
  private status: StreamStatus = { database: true, sources: [], at: Date.now() };
  private statusBytes: Buffer | undefined;
  /** Newest tick seen per source. */
  private readonly seenTick = new Map<string, number>();
  private newestSeen = 0;
  private statsVersion = 0;
  private runsReadAt = 0;
  private statusReadAt = 0;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private polling = false;
  private pokedWhilePolling = false;
  private stopped = false;
  /** Viewers dropped for reading too slowly (for /metrics-style checks and tests). */
  dropped = 0;
  /** Ticks pushed since start. */
  pushed = 0;
  /** Polls finished since start. */
  polls = 0;
  /** The last push's steps, in ms: the figures' read, and the serialisation and writes to every viewer. */
  lastPush = { readMs: 0, writeMs: 0 };

  constructor(opts: LiveOptions) {
    this.logger = opts.logger;
    this.pollMs = opts.pollMs ?? 100;
    this.statusMs = opts.statusMs ?? 5_000;
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.ringSize = opts.ringSize ?? 30;
    this.maxBufferBytes = opts.maxBufferBytes ?? 1_048_576;
    this.knownSources = new Set(opts.sources ?? []);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Starts the poller (once): reads the current figures so the first viewer gets a snapshot. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.readStatus().catch((err: unknown) => this.logger.warn({ err }, 'dashboard status read failed'));
      this.statsVersion = await readStatsVersion().catch(() => 0);
      await this.reload(true).catch((err: unknown) => {
        this.logger.warn({ err }, 'dashboard overview read failed');
        // Read again at the first poll rather than wait for the next tick.
        this.statsVersion = -1;
      });
      for (const s of this.status.sources) if (s.tick !== null) this.seenTick.set(s.source, s.tick);
      this.newestSeen = Math.max(0, ...this.seenTick.values());
      if (this.stopped) return;
      this.pollTimer = setInterval(() => void this.poll(), this.pollMs);
      this.pollTimer.unref();
      this.heartbeatTimer = setInterval(() => this.broadcast(HEARTBEAT), this.heartbeatMs);
      this.heartbeatTimer.unref();
    })();
    return this.started;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearInterval(this.heartbeatTimer);
    for (const res of this.viewers) res.end();
    this.viewers.clear();
  }

  /**
   * Adds a viewer: writes the SSE headers, then either the events after `lastEventId` (when the
   * ring still holds it) or a snapshot, then keeps the response for the broadcasts.
   */
  async attach(res: ServerResponse, lastEventId: string | undefined): Promise<void> {
    await this.start();
    if (this.stopped) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('shutting down');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx passes the stream through as it comes (deploy/nginx.conf says so too).
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.write('retry: 3000\n\n');
    const missed = lastEventId === undefined ? -1 : this.ring.findIndex((e) => e.id === lastEventId);
    if (lastEventId !== undefined && lastEventId === this.lastId) {
      // Up to date: nothing to send but the status.
    } else if (missed >= 0) {
      for (const e of this.ring.slice(missed + 1)) res.write(e.bytes);
    } else {
      res.write(this.snapshot());
    }
    res.write(this.statusFrame());
    // Gone while the poller started: nothing to keep.
    if (res.destroyed) return;
    this.viewers.add(res);
    res.on('close', () => this.viewers.delete(res));
  }

  /** The full picture as one event, serialised once per tick whoever asks. */
  snapshot(): Buffer {
    this.snapshotBytes ??= frame('snapshot', this.lastId, {
      ...(this.overview ?? { method: '', ranked: 0, asOf: null }),
      rows: [...this.rows.values()],
    });
    return this.snapshotBytes;
  }

  private statusFrame(): Buffer {
    this.statusBytes ??= frame('status', undefined, this.status);
    return this.statusBytes;
  }

  /** Writes the same bytes to every viewer; one that cannot keep up is dropped. */
  private broadcast(bytes: Buffer): void {
    for (const res of this.viewers) {
      if (res.writableLength > this.maxBufferBytes) {
        this.viewers.delete(res);
        this.dropped += 1;
        res.destroy();
        continue;
      }
      res.write(bytes);
    }
  }

  /**
   * Polls now rather than at the next interval: the process's own scheduler calls it when a tick's
   * statistics are stored, so a single-process deployment pushes without the poller's wait.
   */
  poke(): void {
    if (this.pollTimer === undefined || this.stopped) return;
    if (this.polling) this.pokedWhilePolling = true;
    else void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    this.pokedWhilePolling = false;
    try {
      const version = await readStatsVersion();
      const changed = version !== this.statsVersion;
      if (changed) {
        this.statsVersion = version;
        await this.reload(false);
      }
      // New run records (for the status strip): after each push, and once a second otherwise.
      if (changed || Date.now() - this.runsReadAt >= 1_000) {
        this.runsReadAt = Date.now();
        const runs = (await CollectorRun.find(
          { status: { $in: SUCCESSFUL }, tick: { $gt: new Date(this.newestSeen) } },
          { source: 1, tick: 1, status: 1 },
        ).lean()) as Array<{ source: string; tick: Date; status: string }>;
        for (const run of runs) {
          const t = run.tick.getTime();
          if (t > (this.seenTick.get(run.source) ?? 0)) this.seenTick.set(run.source, t);
          this.newestSeen = Math.max(this.newestSeen, t);
        }
        if (runs.length > 0 || Date.now() - this.statusReadAt >= this.statusMs || !this.status.database) {
          await this.readStatus();
        }
      }
    } catch (err) {
      if (this.stopped) return;
      if (this.status.database) this.logger.warn({ err }, 'dashboard poll failed');
      this.setStatus({ ...this.status, database: false, at: Date.now() });
    } finally {
      this.polling = false;
      this.polls += 1;
      if (this.pokedWhilePolling) this.poke();
    }
  }

  /** Reads the overview once and pushes the rows that changed as one event. */
  private async reload(initial: boolean): Promise<void> {
    const started = performance.now();
    const overview: MarketOverview = await getMarketOverview({ uncached: true });
    const read = performance.now();
    const asOf = overview.asOf?.getTime() ?? null;
    const changed: WireRow[] = [];
    const next = new Map<string, WireRow>();
    for (const row of overview.rows) {
      const wire = toWire(row);
      next.set(wire[0], wire);
      const before = this.rows.get(wire[0]);
      if (!before || !sameRow(before, wire)) changed.push(wire);
    }
    const removed = [...this.rows.keys()].filter((m) => !next.has(m));
    this.rows = next;
    this.overview = { method: overview.method, ranked: overview.ranked, asOf };
    this.snapshotBytes = undefined;
    if (initial) {
      this.lastId = asOf === null ? undefined : String(asOf);
      return;
    }
    let id = String(asOf ?? Date.now());
    // Two sources finishing the same tick: the second event still needs an id of its own.
    if (this.lastId !== undefined && id <= this.lastId) id = `${this.lastId.split('.')[0]}.${this.pushed}`;
    this.lastId = id;
    const bytes = frame('tick', id, { ...this.overview, rows: changed, removed });
    this.ring.push({ id, bytes });
    if (this.ring.length > this.ringSize) this.ring.shift();
    this.pushed += 1;
    this.broadcast(bytes);
    this.lastPush = { readMs: read - started, writeMs: performance.now() - read };
  }

  private async readStatus(): Promise<void> {
    this.statusReadAt = Date.now();
    const sources = new Set([...this.knownSources, ...this.seenTick.keys()]);
    if (sources.size === 0) {
      for (const s of (await CollectorRun.distinct('source')) as string[]) sources.add(s);
    }
    const list: SourceStatus[] = [];
    for (const source of [...sources].sort()) {
      const run = (await CollectorRun.findOne({ source, status: { $in: SUCCESSFUL } }, { tick: 1, status: 1 })
        .sort({ tick: -1 })
        .lean()) as { tick: Date; status: string } | null;
      list.push({ source, tick: run?.tick.getTime() ?? null, status: run?.status ?? null });
    }
    this.setStatus({ database: true, sources: list, at: Date.now() });
  }

  private setStatus(next: StreamStatus): void {
    const same =
      next.database === this.status.database && JSON.stringify(next.sources) === JSON.stringify(this.status.sources);
    this.status = next;
    this.statusBytes = undefined;
    if (!same) this.broadcast(this.statusFrame());
  }
}
