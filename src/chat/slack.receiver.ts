/**
 * The Bolt receiver for Slack over HTTP: Slack's requests arrive at `/slack/events` on the product's
 * own Fastify server, and each one's signature is verified within a 5-minute replay window before
 * Bolt sees it. Kept apart from the adapter, as bolt-js keeps its receivers.
 */
import type { App as BoltApp, Receiver, ReceiverEvent } from '@slack/bolt';
import bolt from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';

const { verifySlackRequest } = bolt;

export const SLACK_EVENTS_PATH = '/slack/events';
const REPLAY_WINDOW_S = 5 * 60;
/** Bolt answers Slack itself if a handler never acks; Slack gives up after 3 s anyway. */
const ACK_TIMEOUT_MS = 3_500;

/**
 * A Bolt receiver mounted on an existing Fastify server. Raw bodies are kept for the signature, so
 * the route lives in its own encapsulated scope with a string body parser.
 */
export class FastifyReceiver implements Receiver {
  private bolt?: BoltApp;

  constructor(
    private readonly opts: {
      http: FastifyInstance;
      signingSecret: string;
      path?: string;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  init(app: BoltApp): void {
    this.bolt = app;
  }

  /** Adds the route; call before the server starts listening. */
  async register(): Promise<void> {
    const path = this.opts.path ?? SLACK_EVENTS_PATH;
    await this.opts.http.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1_048_576 }, (_req, body, done) =>
        done(null, body),
      );
      scope.post(path, async (request, reply) => {
        const raw = typeof request.body === 'string' ? request.body : '';
        const result = await this.handle(raw, request.headers);
        reply.code(result.status);
        if (result.body === undefined) return reply.send('');
        return reply.send(result.body);
      });
    });
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  /** Verifies and dispatches one request; returns what Slack gets back. */
  async handle(
    raw: string,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<{ status: number; body?: unknown }> {
    const header = (name: string) => {
      const v = headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const contentType = header('content-type') ?? '';
    const form = contentType.includes('application/x-www-form-urlencoded') ? new URLSearchParams(raw) : undefined;
    // Slack's ssl_check carries no signature and needs only a 200.
    if (form?.get('ssl_check') === '1') return { status: 200 };

    const nowMs = (this.opts.now ?? Date.now)();
    const timestamp = Number(header('x-slack-request-timestamp'));
    const signature = header('x-slack-signature') ?? '';
    // Bolt's helper rejects old timestamps only; a request dated in the future is refused here too.
    if (!Number.isFinite(timestamp) || Math.abs(nowMs / 1000 - timestamp) > REPLAY_WINDOW_S) {
      this.opts.logger.warn(
        { timestamp: header('x-slack-request-timestamp') },
        'slack request outside the replay window',
      );
      return { status: 401, body: { error: 'stale or missing timestamp' } };
    }
    try {
      verifySlackRequest({
        signingSecret: this.opts.signingSecret,
        body: raw,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
        nowMilliseconds: nowMs,
      });
    } catch {
      this.opts.logger.warn('slack request with a bad signature');
      return { status: 401, body: { error: 'invalid signature' } };
    }

    let body: Record<string, unknown>;
    try {
      if (form) {
        const payload = form.get('payload');
        body = payload !== null ? (JSON.parse(payload) as Record<string, unknown>) : Object.fromEntries(form);
      } else {
        body = JSON.parse(raw) as Record<string, unknown>;
      }
    } catch {
      return { status: 400, body: { error: 'unreadable body' } };
    }
    if (body === null || typeof body !== 'object') return { status: 400, body: { error: 'unreadable body' } };
    if (body.type === 'url_verification') return { status: 200, body: { challenge: body.challenge } };
    if (!this.bolt) return { status: 503 };

    let settle!: (r: { status: number; body?: unknown }) => void;
    const answered = new Promise<{ status: number; body?: unknown }>((resolve) => (settle = resolve));
    let acked = false;
    const event: ReceiverEvent = {
      body,
      retryNum: Number(header('x-slack-retry-num')) || undefined,
      retryReason: header('x-slack-retry-reason'),
      ack: async (response?: unknown) => {
        if (acked) return;
        acked = true;
        settle({ status: 200, body: response === undefined || response === '' ? undefined : response });
      },
    };
    this.bolt.processEvent(event).catch((err: unknown) => {
      this.opts.logger.error({ err }, 'slack event processing failed');
      if (!acked) settle({ status: 500 });
    });
    const timer = setTimeout(() => settle({ status: 404 }), ACK_TIMEOUT_MS);
    try {
      return await answered;
    } finally {
      clearTimeout(timer);
    }
  }
}
