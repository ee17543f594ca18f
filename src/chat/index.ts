/**
 * Starts the chat side: Slack when SLACK_BOT_TOKEN is set, Discord when DISCORD_TOKEN is set, and
 * the console when neither is (or when asked). Call after buildServer() and before listen(): Slack
 * over HTTP mounts `/slack/events` on that server.
 */
import type { Readable, Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { log } from '../logger.js';
import { startConsole } from './console.adapter.js';
import type { ChatPlatform } from './platform.js';
import { loadRegistry, type CommandRegistry } from './registry.js';

export type { ChatPlatform } from './platform.js';
export { buildChart, spikeChart } from './chart.js';

export interface ChatDeps {
  http: FastifyInstance;
  /** Console streams; default stdin/stdout. */
  input?: Readable;
  output?: Writable;
  /** Run the console even when chat credentials are set. */
  console?: boolean;
  /** The console's prompt; '' when no person is at it (its output shares stdout with log lines). */
  prompt?: string;
}

export interface RunningChat {
  platforms: ChatPlatform[];
  registry: CommandRegistry;
  stop(): Promise<void>;
}

export async function startChat(config: Config, deps: ChatDeps): Promise<RunningChat> {
  const logger = log('chat');
  const registry = await loadRegistry(config);
  const started: Array<ChatPlatform & { stop(): Promise<void> }> = [];
  const stop = async () => {
    for (const p of started.reverse()) {
      await p.stop().catch((err: unknown) => logger.warn({ err, platform: p.name }, 'chat platform stop failed'));
    }
  };
  try {
    // Each platform's library is loaded only when the platform is configured: @slack/bolt and
    // discord.js are most of the main thread's heap, and a console-only bot needs neither.
    if (config.slack.botToken) {
      const { startSlack } = await import('./slack.adapter.js');
      started.push(await startSlack({ config, registry, http: deps.http }));
    }
    if (config.discord.token) {
      const { startDiscord } = await import('./discord.adapter.js');
      started.push(await startDiscord({ config, registry }));
    }
    if (deps.console || started.length === 0) {
      started.push(
        startConsole({
          config,
          registry,
          input: deps.input ?? process.stdin,
          output: deps.output ?? process.stdout,
          prompt: deps.prompt,
        }),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  logger.info({ platforms: started.map((p) => p.name) }, 'chat started');
  return { platforms: [...started], registry, stop };
}
