/**
 * Outgoing webhooks: the sink for channels `webhook:<name>` (WEBHOOKS, WEBHOOK_SECRETS). Each alert
 * is POSTed as JSON through the same outbox, leases, retries and dedupe as a chat post, signed so
 * the receiver can tell it came from this bot and was not replayed:
 *
 *   X-Chatops-Timestamp: <unix seconds>
 *   X-Chatops-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *   X-Chatops-Delivery:  <the alert's outbox key>  (the same on every retry: dedupe on it)
 *
 * docs/alerts.md has a verification example.
 */
import { createHmac } from 'node:crypto';
import {
  ChannelGoneError,
  POST_TIMEOUT_MS,
  RateLimitedError,
  type AlertPayload,
  type ChatPlatform,
} from '../chat/platform.js';
import type { Reply } from '../chat/reply.js';

export const SIGNATURE_HEADER = 'x-chatops-signature';
export const TIMESTAMP_HEADER = 'x-chatops-timestamp';
export const DELIVERY_HEADER = 'x-chatops-delivery';

/** `v1=<hex>` over `${timestamp}.${body}`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The JSON body of one alert. */
export function webhookBody(alert: AlertPayload, reply: Reply) {
  return {
    type: alert.kind ?? 'spike',
    id: alert.id,
    key: alert.key,
    subscriptionId: alert.subscriptionId,
    market: alert.market,
    metric: alert.metric,
    ts: alert.ts.toISOString(),
    value: alert.value,
    baseline: alert.baseline,
    ratio: alert.ratio,
    factor: alert.factor,
    points: alert.points,
    more: alert.more ?? 0,
    ...(alert.kind === 'level' || alert.kind === 'move'
      ? { direction: alert.direction, threshold: alert.threshold }
      : {}),
    ...(alert.kind === 'move' ? { change: alert.change, windowMs: alert.windowMs } : {}),
    title: reply.title,
    text: reply.text ?? '',
  };
}

export function startWebhooks(
  webhooks: Readonly<Record<string, { url: string; secret: string }>>,
  options: { now?: () => number; timeoutMs?: number } = {},
): ChatPlatform {
  const now = options.now ?? Date.now;
  return {
    name: 'webhook',
    // One alert per POST: a receiver gets data, not a digest.
    digests: false,
    async post(channel, reply, alerts = []) {
      const name = channel.slice('webhook:'.length);
      const hook = Object.hasOwn(webhooks, name) ? webhooks[name] : undefined;
      if (!hook) throw new ChannelGoneError(`webhook "${name}" is not configured (WEBHOOKS)`);
      const alert = alerts[0];
      if (!alert) throw new Error('a webhook post needs its alert');
      const body = JSON.stringify(webhookBody(alert, reply));
      const timestamp = Math.floor(now() / 1000);
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'crypto-chatops-webhook/1',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebhook(hook.secret, timestamp, body),
          [DELIVERY_HEADER]: alert.key,
        },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? POST_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ref: `${name}:${res.status}` };
      if (res.status === 429) {
        const seconds = Number(res.headers.get('retry-after'));
        throw new RateLimitedError(Number.isFinite(seconds) && seconds > 0 ? seconds * 1_000 : 5_000);
      }
      // 410 Gone: the receiver says this endpoint is retired; stop sending rather than retry forever.
      if (res.status === 410) throw new ChannelGoneError(`webhook "${name}" answered 410 Gone`);
      throw new Error(`webhook "${name}" answered ${res.status}`);
    },
  };
}
