/**
 * /help [command]: generated from the command definitions, with an example per command.
 */
import { defineCommand, usageOf, usageText, type AnyCommand } from '../src/chat/registry.js';
import { slackCommandTable } from '../src/chat/slack-commands.js';
import { UserError } from '../src/errors.js';

export const help = defineCommand({
  name: 'help',
  description: 'What each command does, with an example',
  options: [
    {
      name: 'command',
      description: 'One command to explain in detail',
      kind: 'choice',
      parse: (text: string) =>
        /^\/?[a-z][a-z0-9-]{0,31}$/i.test(text) ? text.replace(/^\//, '').toLowerCase() : undefined,
    },
  ],
  examples: ['help', 'help track'],
  ephemeral: true,
  async run(ctx, options) {
    // Imported here: the index imports this file.
    const { commands } = await import('./index.js');
    const all = commands as readonly AnyCommand[];
    if (options.command) {
      // On Slack a command may go by another name (`/help quiet` explains /mute, shown there as /quiet).
      const names = all.map((c) => c.name);
      const asked = `/${options.command}`;
      const slackName =
        ctx.platform === 'slack'
          ? (slackCommandTable(names, ctx.config.slack.commandPrefix).get(asked) ?? slackCommandTable(names).get(asked))
          : undefined;
      const def = all.find((c) => c.name === (slackName ?? options.command));
      if (!def)
        throw new UserError(
          `No command /${options.command}.`,
          `Commands: ${all.map((c) => `/${c.name}`).join(', ')}`,
          404,
        );
      return {
        title: `/${def.name}: ${def.description}`,
        text: `${usageText(def)}${def.examples
          .slice(1)
          .map((e) => `\nExample: /${e}`)
          .join('')}`,
      };
    }
    return {
      title: 'Commands',
      fields: all.map((c) => ({ name: usageOf(c), value: `${c.description}\nExample: /${c.examples[0] ?? c.name}` })),
      footer: 'Markets are written like btc-usd, BTC/USD or kraken:btc-usd. /help <command> explains its options.',
    };
  },
});
