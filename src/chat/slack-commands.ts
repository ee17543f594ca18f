/**
 * The names the commands carry on Slack. Slack owns a set of built-in slash commands that an app
 * cannot register (a manifest naming one is refused whole), so a command whose own name is taken
 * gets another name on Slack; SLACK_COMMAND_PREFIX puts a prefix before every name for workspaces
 * where generic names clash with other apps. Discord and the console keep the plain names.
 */

/**
 * Slack's documented built-in slash commands ("Use built-in slash commands", Slack Help Center:
 * https://slack.com/help/articles/201259356-Use-built-in-slash-commands), with the aliases that
 * article lists. test/slack-manifest.test.ts checks slack-manifest.yml and the Slack names against it.
 */
export const SLACK_BUILT_IN_COMMANDS: readonly string[] = [
  'active',
  'apps',
  'archive',
  'away',
  'call',
  'close',
  'collapse',
  'dm',
  'dnd',
  'expand',
  'feed',
  'feedback',
  'invite',
  'join',
  'kick',
  'leave',
  'me',
  'msg',
  'mute',
  'open',
  'part',
  'remind',
  'remove',
  'rename',
  'search',
  'shortcuts',
  'shrug',
  'status',
  'topic',
  'who',
];

/**
 * Commands whose own name is a Slack built-in, and their name on Slack. `/mute` mutes a channel for
 * the person who types it, so this app's mute is `/quiet` there: the word its replies already use
 * ("quiets this channel"), not taken by Slack, and apart from the alerts' per-market snooze buttons.
 */
export const SLACK_RENAMED: Readonly<Record<string, string>> = { mute: 'quiet' };

/** `mute` -> `/quiet`; with prefix `crypto-`, `metric` -> `/crypto-metric`. */
export function slackCommandName(name: string, prefix = ''): string {
  return `/${prefix}${SLACK_RENAMED[name] ?? name}`;
}

/** `/crypto-quiet` -> `mute`: the own name behind a Slack name, whether or not such a command exists. */
export function ownCommandName(slash: string, prefix = ''): string {
  const bare = slash.replace(/^\//, '');
  const name = prefix && bare.startsWith(prefix) ? bare.slice(prefix.length) : bare;
  return Object.keys(SLACK_RENAMED).find((own) => SLACK_RENAMED[own] === name) ?? name;
}

/** What Slack sends (`/crypto-quiet`) -> the command's own name (`mute`), for every command. */
export function slackCommandTable(names: readonly string[], prefix = ''): Map<string, string> {
  return new Map(names.map((name) => [slackCommandName(name, prefix), name]));
}

/** The Slack names among `slashNames` (`/rank`) that Slack keeps for itself. */
export function slackBuiltInClashes(slashNames: Iterable<string>): string[] {
  return [...slashNames].filter((s) => SLACK_BUILT_IN_COMMANDS.includes(s.replace(/^\//, '')));
}

/**
 * A command's own name arriving on Slack where it has another one (`/mute` from an app installed
 * with an older manifest): the Slack name to point to, or undefined.
 */
export function renamedOnSlack(slash: string, prefix = ''): { name: string; slackName: string } | undefined {
  for (const name of Object.keys(SLACK_RENAMED)) {
    if (slash === `/${prefix}${name}` || slash === `/${name}`)
      return { name, slackName: slackCommandName(name, prefix) };
  }
  return undefined;
}

/**
 * Rewrites the command mentions in a reply's text (`/mute 1h quiets this channel`) to their Slack
 * names, so help, usage and alert hints on Slack name the commands a Slack user can type.
 */
export function slackMentions(names: readonly string[], prefix = ''): (text: string) => string {
  const renamed = names.filter((n) => slackCommandName(n) !== `/${n}` || prefix !== '');
  if (renamed.length === 0) return (text) => text;
  const mention = new RegExp(`(^|[\\s("'\`“*_])/(${renamed.join('|')})(?![A-Za-z0-9_-])`, 'g');
  return (text) =>
    text.replace(mention, (_all, before: string, name: string) => before + slackCommandName(name, prefix));
}
