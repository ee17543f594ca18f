/**
 * What alert delivery needs from a chat platform, and the errors a platform reports in terms the
 * deliverer can act on. Implemented by the Slack, Discord and console adapters.
 */
import type { Reply } from './reply.js';

export type PlatformName = 'slack' | 'discord' | 'console';

export interface ChatPlatform {
  readonly name: PlatformName;
  /** Posts a reply to a platform-qualified channel id (`slack:T:C`, `discord:G:C`, `console:local`). */
  post(channel: string, reply: Reply): Promise<{ ref: string }>;
}

/** The platform said 429; try again after `retryAfterMs`. */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  constructor(
    readonly retryAfterMs: number,
    message = `rate limited, retry after ${retryAfterMs} ms`,
  ) {
    super(message);
  }
}

/** The channel is gone or the bot was removed from it: retrying will not help. */
export class ChannelGoneError extends Error {
  override name = 'ChannelGoneError';
}

/** `slack:T123:C456` -> { platform: 'slack', parts: ['T123', 'C456'] }. Only delivery code parses ids. */
export function parseChannelId(id: string): { platform: PlatformName; parts: string[] } {
  const [platform, ...parts] = id.split(':');
  if (platform !== 'slack' && platform !== 'discord' && platform !== 'console') {
    throw new Error(`not a channel id: ${id}`);
  }
  return { platform, parts };
}
