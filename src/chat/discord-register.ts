/**
 * `npm run discord:register`: publishes the slash commands to Discord from the same definitions the
 * bot validates with. With DISCORD_GUILD_ID the commands go to that one server (visible at once,
 * good for trying things out); without it they are global (Discord may take a while to show them).
 */
import { pathToFileURL } from 'node:url';
import { REST, Routes } from 'discord.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { discordCommandSchema } from './discord.adapter.js';
import type { AnyCommand } from './registry.js';

export interface RegisterResult {
  scope: 'global' | 'guild';
  names: string[];
}

export async function registerDiscordCommands(
  config: Config,
  commands?: readonly AnyCommand[],
): Promise<RegisterResult> {
  const { token, applicationId, guildId, apiUrl } = config.discord;
  if (!token || !applicationId)
    throw new Error('DISCORD_TOKEN and DISCORD_APPLICATION_ID are required to register commands');
  const list = commands ?? (await import('../../commands/index.js')).commands;
  const rest = new REST({ ...(apiUrl ? { api: apiUrl } : {}), retries: 1 }).setToken(token);
  const body = discordCommandSchema(list, config.discord.trackPermission);
  const route = guildId
    ? Routes.applicationGuildCommands(applicationId, guildId)
    : Routes.applicationCommands(applicationId);
  // PUT replaces the whole set, so a command removed from commands/ disappears from Discord too.
  const saved = (await rest.put(route, { body })) as Array<{ name: string }>;
  return { scope: guildId ? 'guild' : 'global', names: saved.map((c) => c.name) };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  try {
    const result = await registerDiscordCommands(config);
    const scope = result.scope === 'guild' ? `guild ${config.discord.guildId}` : result.scope;
    const names = result.names.map((n) => `/${n}`).join(' ');
    process.stdout.write(`Registered ${result.names.length} commands (${scope}): ${names}\n`);
  } catch (err) {
    process.stderr.write(`Registration failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
