/** The offline demo's fixed settings, shared by `npm run demo` and the screenshots script. */
import { join } from 'node:path';

/** Offline, embedded, simulated, console only, with a day of history and regular spikes. */
export function demoOverrides(dataDir: string): Record<string, string> {
  return {
    MONGODB_URI: '',
    DATA_DIR: join(dataDir, 'demo'),
    MARKET_SOURCE: 'simulated',
    MARKETS: 'all',
    BACKFILL_MAX: '24h',
    SIMULATED_SPIKE_EVERY: '5m',
    SLACK_BOT_TOKEN: '',
    SLACK_APP_TOKEN: '',
    DISCORD_TOKEN: '',
  };
}
