/**
 * The console: a REPL over any pair of streams (a terminal in `npm run console`, a PassThrough in
 * tests) that speaks the same commands as Slack and Discord, so the product runs with no accounts.
 * Alerts for `console:local` are printed here too. Lines are handled one at a time, in order.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Config } from '../config.js';
import { log } from '../logger.js';
import { ChannelGoneError, type ChatPlatform } from './platform.js';
import { CommandRegistry, type CommandContext } from './registry.js';
import { renderConsole } from './render-console.js';
import type { Reply } from './reply.js';

export const CONSOLE_CHANNEL = 'console:local';

export interface ConsoleAdapter extends ChatPlatform {
  /** Resolves once every line read so far has been answered. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export function startConsole(deps: {
  config: Config;
  registry: CommandRegistry;
  input: Readable;
  output: Writable;
  prompt?: string;
}): ConsoleAdapter {
  const { config, registry, output } = deps;
  const prompt = deps.prompt ?? '> ';
  const logger = log('chat', { platform: 'console' });
  const ctx = (): CommandContext => ({
    platform: 'console',
    channel: CONSOLE_CHANNEL,
    user: 'console:local',
    userName: 'you',
    mayManageChannel: true,
    config,
  });
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  let posted = 0;
  /** The URL of the last chart shown, printed by `!chart`. */
  let lastChartUrl: string | undefined;
  const write = (text: string) => {
    if (!closed) output.write(text);
  };
  const show = (reply: Reply) => {
    if (reply.chart) lastChartUrl = reply.chart.url;
    return renderConsole(reply);
  };

  const handle = async (line: string) => {
    const text = line.trim();
    if (!text) return;
    let reply: Reply;
    if (text === '!chart') {
      // The console's own command: the chart drawn above, as the image URL the chat platforms get.
      write(lastChartUrl ? `Chart: ${lastChartUrl}\n` : 'No chart shown yet: /metric draws one.\n');
      return;
    }
    if (text.startsWith('!')) {
      // `!action value` clicks the button a reply printed.
      const [action = '', ...rest] = text.slice(1).split(/\s+/);
      reply = await registry.runAction(action, rest.join(' '), ctx());
    } else {
      const parsed = CommandRegistry.parseLine(text);
      if (!parsed) return;
      reply = await registry.run(parsed.name, parsed.raw, ctx());
    }
    write(show(reply));
  };

  const rl: Interface = createInterface({ input: deps.input, terminal: false });
  write(`Type /help for commands. Channel ${CONSOLE_CHANNEL}.\n${prompt}`);
  rl.on('line', (line) => {
    chain = chain
      .then(() => handle(line))
      .catch((err: unknown) => logger.error({ err }, 'console line failed'))
      .then(() => write(prompt));
  });

  return {
    name: 'console',
    async post(channel: string, reply: Reply) {
      if (channel !== CONSOLE_CHANNEL)
        throw new ChannelGoneError(`the console only answers ${CONSOLE_CHANNEL}, not ${channel}`);
      posted += 1;
      write(`\n${show(reply)}${prompt}`);
      return { ref: `console-${posted}` };
    },
    idle: async () => {
      // Lines may queue while we wait; loop until the chain stops growing.
      let seen: Promise<void> | undefined;
      while (seen !== chain) {
        seen = chain;
        await seen;
      }
    },
    async stop() {
      rl.close();
      await chain;
      closed = true;
    },
  };
}
