/**
 * What alert delivery needs from a place alerts go to (a chat platform or the outgoing webhooks),
 * and the errors it reports in terms the deliverer can act on. Implemented by the Slack, Discord
 * and console adapters and by the webhook sink.
 */
import type { Reply } from './reply.js';

export type PlatformName = 'slack' | 'discord' | 'console' | 'webhook';

/**
 * Every outbound post gives up after this long, well under the deliverer's 60 s lease; also the
 * longest post of a platform that states no `maxPostMs`.
 */
export const POST_TIMEOUT_MS = 15_000;

/** An alert as the outbox holds it, for sinks that send data rather than a rendered reply. */
export interface AlertPayload {
  id: string;
  key: string;
  subscriptionId: string;
  channel: string;
  market: string;
  metric: string;
  ts: Date;
  value: number;
  baseline: number;
  ratio: number;
  factor: number;
  points: number;
  /** spike (absent on alerts from before kinds), level or move, with a level's or a move's figures. */
  kind?: string | null;
  direction?: string | null;
  threshold?: number | null;
  change?: number | null;
  windowMs?: number | null;
  more?: number | null;
}

export interface ChatPlatform {
  readonly name: PlatformName;
  /**
   * Posts a reply to a platform-qualified channel id (`slack:T:C`, `discord:G:C`, `console:local`,
   * `webhook:ops`). `alerts` are the outbox alerts the reply shows, for sinks that send them as data.
   */
  post(channel: string, reply: Reply, alerts?: readonly AlertPayload[]): Promise<{ ref: string }>;
  /** Least time between two posts to one channel (Slack: about one a second); default none. */
  readonly postIntervalMs?: number;
  /**
   * Longest one `post` may take before it gives up: client timeouts times attempts, plus a chart
   * render and upload where there is one (default POST_TIMEOUT_MS). The deliverer makes sure a
   * claim holds this long before each post.
   */
  readonly maxPostMs?: number;
  /** False for sinks that take one alert per post (webhooks); default true. */
  readonly digests?: boolean;
  /**
   * Opens (or finds) the direct-message channel between the bot and a platform-qualified user and
   * returns its channel id; rejects with a UserError saying why the user cannot be messaged.
   */
  openDirect?(user: string): Promise<string>;
}

/**
 * The platform said 429; try again after `retryAfterMs`. `scope` says what waits: the one channel
 * (or the route the platform named, which for a channel post is that channel) or every post to the
 * platform (a global limit).
 */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  constructor(
    readonly retryAfterMs: number,
    message = `rate limited, retry after ${retryAfterMs} ms`,
    readonly scope: 'channel' | 'platform' = 'channel',
  ) {
    super(message);
  }
}

/** The channel is gone or the bot was removed from it: retrying will not help. */
export class ChannelGoneError extends Error {
  override name = 'ChannelGoneError';
}

const PLATFORMS = new Set<string>(['slack', 'discord', 'console', 'webhook']);

/** `slack:T123:C456` -> { platform: 'slack', parts: ['T123', 'C456'] }. Only delivery code parses ids. */
export function parseChannelId(id: string): { platform: PlatformName; parts: string[] } {
  const [platform = '', ...parts] = id.split(':');
  if (!PLATFORMS.has(platform)) throw new Error(`not a channel id: ${id}`);
  return { platform: platform as PlatformName, parts };
}
