/**
 * `npm run slack:manifest`: prints slack-manifest.yml with every command named as the Slack
 * adapter answers it for the configured SLACK_COMMAND_PREFIX (`crypto-` gives /crypto-metric), ready
 * to paste into "Create New App -> From an app manifest". The file itself keeps the plain names.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ownCommandName, slackCommandName } from '../src/chat/slack-commands.js';
import { ConfigError, loadConfig } from '../src/config.js';

export const MANIFEST_PATH = resolve(import.meta.dirname, '..', 'slack-manifest.yml');

/** The manifest's text with each `- command: /name` renamed for `prefix`; comments and layout kept. */
export function slackManifest(prefix: string, text = readFileSync(MANIFEST_PATH, 'utf8')): string {
  return text.replace(
    /^(\s*- command: )(\/[a-z0-9_-]+)[ \t]*$/gm,
    (_line, lead: string, slash: string) => `${lead}${slackCommandName(ownCommandName(slash), prefix)}`,
  );
}

async function main(): Promise<void> {
  try {
    process.stdout.write(slackManifest(loadConfig().slack.commandPrefix));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
