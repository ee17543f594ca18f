/**
 * Discord through discord.js. Slash commands arrive over the gateway; the adapter defers first
 * (Discord allows 3 s), runs the registry, then edits the deferred reply into an embed with the
 * chart. Market options autocomplete from the catalog.
 *
 * REST goes through discord.js's own client. Channel posts (alerts) reject on a rate limit instead
 * of waiting inside the library, so the deliverer sees RateLimitedError and owns the retry policy.
 */
import {
  ApplicationCommandOptionType,
  Client,
  DiscordAPIError,
  Events,
  HTTPError,
  GatewayIntentBits,
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  RateLimitError,
  Routes,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  type APIApplicationCommandOption,
} from 'discord.js';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { log } from '../logger.js';
import { listMarkets } from '../market/catalog.js';
import { normaliseInput } from '../market/market-id.js';
import { ChannelGoneError, RateLimitedError, parseChannelId, type ChatPlatform } from './platform.js';
import { CHART_FILE, CHART_PNG_TIMEOUT_MS, chartPngFor } from './chart.js';
import type { AnyCommand, CommandContext, CommandRegistry, OptionDefinition } from './registry.js';
import { parseCustomId, renderDiscord } from './render-discord.js';
import type { Reply } from './reply.js';

/**
 * Discord error codes meaning the channel is really gone: Unknown Channel, Unknown Guild (the bot
 * was removed from the server). Missing Access (50001) and Missing Permissions (50013) are not: a
 * channel without Attach Files still takes the post without the file, and an admin can grant the
 * rest, so those are retried like any failure and never switch subscriptions off.
 */
const CHANNEL_GONE_CODES = new Set([10003, 10004]);
/** Cannot send messages to this user: a direct-message channel whose user closed their DMs. */
const CANNOT_DM = 50007;
const READY_TIMEOUT_MS = 30_000;
/**
 * discord.js aborts a REST request after this long, and tries an aborted request once more: one
 * request may take DISCORD_REST_TIMEOUT_MS x (DISCORD_REST_RETRIES + 1). An alert post with a chart
 * is a render, an upload and, if the upload fails, a post without the file; that worst case must stay
 * under the deliverer's 60 s lease, which discord.js's own 15 s default would not (65 s).
 */
export const DISCORD_REST_TIMEOUT_MS = 10_000;
export const DISCORD_REST_RETRIES = 1;

/** The longest alert post: each request with its retry, and the render and upload with CHART_UPLOAD. */
export function discordMaxPostMs(chartUpload: boolean, timeoutMs = DISCORD_REST_TIMEOUT_MS): number {
  const request = timeoutMs * (DISCORD_REST_RETRIES + 1);
  return chartUpload ? CHART_PNG_TIMEOUT_MS + 2 * request : request;
}

export interface DiscordAdapter extends ChatPlatform {
  readonly client: Client;
  stop(): Promise<void>;
}

function optionSchema(o: OptionDefinition): APIApplicationCommandOption {
  const base = { name: o.name, description: o.description.slice(0, 100), required: Boolean(o.required) };
  switch (o.kind) {
    case 'market':
      return { ...base, type: ApplicationCommandOptionType.String, autocomplete: true, max_length: 64 };
    case 'choice':
      return o.choices?.length && o.choices.length <= 25
        ? { ...base, type: ApplicationCommandOptionType.String, choices: o.choices.map((c) => ({ name: c, value: c })) }
        : { ...base, type: ApplicationCommandOptionType.String, max_length: 100 };
    case 'number':
    case 'integer': {
      const bounds = {
        ...(o.min !== undefined ? { min_value: o.min } : {}),
        ...(o.max !== undefined ? { max_value: o.max } : {}),
      };
      return o.kind === 'number'
        ? { ...base, ...bounds, type: ApplicationCommandOptionType.Number }
        : { ...base, ...bounds, type: ApplicationCommandOptionType.Integer };
    }
    case 'duration':
      return { ...base, type: ApplicationCommandOptionType.String, max_length: 20 };
  }
}

/** DISCORD_TRACK_PERMISSION as a permission bit; null means every member. */
export function trackPermissionBit(name: string): bigint | null {
  if (name === 'everyone') return null;
  const bit = (PermissionFlagsBits as Record<string, bigint>)[name];
  if (bit === undefined) {
    throw new Error(
      `DISCORD_TRACK_PERMISSION: "${name}" is not a Discord permission ` +
        '(e.g. ManageChannels, ManageGuild, Administrator) or "everyone"',
    );
  }
  return bit;
}

/** Discord's application command schema, from the same definitions the registry validates with. */
export function discordCommandSchema(
  commands: readonly AnyCommand[],
  trackPermission: string = 'ManageChannels',
): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  const bit = trackPermissionBit(trackPermission);
  return commands.map((c) => ({
    name: c.name,
    description: c.description.slice(0, 100),
    options: (c.options as readonly OptionDefinition[]).map(optionSchema),
    // Hidden from members without the permission unless a server admin grants it in Integrations.
    ...(c.permission === 'manageChannel' && bit !== null ? { default_member_permissions: String(bit) } : {}),
    contexts: [InteractionContextType.Guild],
  }));
}

function toPlatformError(err: unknown): unknown {
  // A limit on the route (for a channel post: that channel's bucket) holds back that channel only;
  // only a global limit holds back every post.
  if (err instanceof RateLimitError)
    return new RateLimitedError(
      Math.max(1, err.retryAfter),
      `rate limited on ${err.route}${err.global ? ' (global)' : ''}`,
      err.global ? 'platform' : 'channel',
    );
  if (err instanceof DiscordAPIError) {
    if (err.status === 429) return new RateLimitedError(1_000);
    if (CHANNEL_GONE_CODES.has(Number(err.code)) || Number(err.code) === CANNOT_DM)
      return new ChannelGoneError(`discord: ${err.message} (${err.code})`);
  }
  return withoutRequest(err);
}

/** A Discord REST error as an Error that no longer holds the request's URL or body. */
function withoutRequest(err: unknown): unknown {
  if (!(err instanceof DiscordAPIError || err instanceof HTTPError)) return err;
  const code = err instanceof DiscordAPIError ? ` ${err.code}` : '';
  return new Error(`discord: ${err.method.toUpperCase()} answered ${err.status}${code}: ${err.message}`);
}

/**
 * What a log line carries of an error. Discord REST errors hold the request URL (with the
 * interaction token) and the request body (with the PNG bytes), so only their code, status and
 * message are logged; anything else keeps its stack.
 */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof DiscordAPIError)
    return { code: err.code, status: err.status, method: err.method, error: err.message };
  if (err instanceof HTTPError) return { status: err.status, method: err.method, error: err.message };
  return { err };
}

/** The body discord.js expects for interaction replies (camelCase allowedMentions). */
function interactionBody(reply: Reply, chartImage?: string) {
  const m = renderDiscord(reply, chartImage);
  return { embeds: m.embeds, components: m.components, allowedMentions: { parse: [] } };
}

const ATTACHED_CHART = `attachment://${CHART_FILE}`;

/**
 * Catalog entries for what is typed. A pair typed whole (`btc-usd`) lists every exchange that has
 * it first, each named with its exchange, so the choice between them is the user's.
 */
export async function marketChoices(typed: string): Promise<Array<{ name: string; value: string }>> {
  const key = normaliseInput(typed);
  const markets = await listMarkets();
  const scored: Array<{ id: string; score: number; name: string }> = [];
  for (const m of markets) {
    if (!key) {
      scored.push({ id: m.id, name: m.id, score: m.active ? 0 : 1 });
      continue;
    }
    const forms = [m.id, ...m.aliases];
    const score = forms.includes(key)
      ? 0
      : forms.some((f) => f.startsWith(key))
        ? 1
        : forms.some((f) => f.includes(key))
          ? 2
          : -1;
    if (score < 0) continue;
    const name = score === 0 && m.id !== key ? `${m.id} (${m.base}-${m.quote} on ${m.exchange})` : m.id;
    scored.push({ id: m.id, name, score: score + (m.active ? 0 : 3) });
  }
  scored.sort((a, b) => a.score - b.score || a.id.localeCompare(b.id));
  return scored.slice(0, 25).map((s) => ({ name: s.name.slice(0, 100), value: s.id }));
}

export async function startDiscord(deps: {
  config: Config;
  registry: CommandRegistry;
  /** Overrides DISCORD_REST_TIMEOUT_MS (tests). */
  restTimeoutMs?: number;
}): Promise<DiscordAdapter> {
  const { config, registry } = deps;
  const restTimeout = deps.restTimeoutMs ?? DISCORD_REST_TIMEOUT_MS;
  const d = config.discord;
  if (!d.token) throw new Error('startDiscord needs DISCORD_TOKEN');
  const logger = log('chat', { platform: 'discord' });
  const manageBit = trackPermissionBit(d.trackPermission);
  const guilds = new Set(d.guildAllowlist);
  const guildAllowed = (i: Interaction) => guilds.size === 0 || (i.guildId !== null && guilds.has(i.guildId));
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: {
      ...(d.apiUrl ? { api: d.apiUrl } : {}),
      retries: DISCORD_REST_RETRIES,
      timeout: restTimeout,
      rejectOnRateLimit: (data) => data.route.startsWith('/channels'),
    },
  });

  /**
   * Opens the bot's DM channel with a user (POST /users/@me/channels) and says hello in it: opening
   * succeeds even for a user whose privacy settings refuse DMs, only a message shows it (50007).
   */
  const openDirect = async (userId: string): Promise<string> => {
    let channelId: string;
    try {
      const dm = (await client.rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as { id: string };
      channelId = dm.id;
      await client.rest.post(Routes.channelMessages(channelId), {
        body: {
          content: 'Alerts you track with `dm` arrive here. The buttons under each alert snooze or untrack it.',
          allowed_mentions: { parse: [] },
        },
      });
    } catch (err) {
      if (err instanceof DiscordAPIError && [50007, 50278].includes(Number(err.code))) {
        throw new UserError(
          'I cannot send you direct messages: your privacy settings refuse DMs from this server’s members or apps.',
          'Allow direct messages in the server’s privacy settings, or track in a channel: /track <market>.',
        );
      }
      throw toPlatformError(err);
    }
    return `discord:@me:${channelId}`;
  };

  const context = (i: Interaction): CommandContext => ({
    platform: 'discord',
    channel: `discord:${i.guildId ?? '@me'}:${i.channelId ?? 'unknown'}`,
    user: `discord:${i.user.id}`,
    userName: i.user.username,
    // Outside a server the only channel is the user's DM with the bot: its alert buttons are theirs.
    mayManageChannel: !i.guildId || manageBit === null || Boolean(i.memberPermissions?.has(manageBit)),
    tenantAllowed: guildAllowed(i),
    config,
    openDirect: () => openDirect(i.user.id),
  });

  /** Turns the deferred reply into the answer; an ephemeral answer to a public defer replaces it. */
  const answer = async (
    i: ChatInputCommandInteraction | ButtonInteraction,
    reply: Reply,
    deferredEphemeral: boolean,
  ) => {
    if (reply.ephemeral && !deferredEphemeral) {
      await i.deleteReply();
      await i.followUp({ ...interactionBody(reply), flags: MessageFlags.Ephemeral });
      return;
    }
    const png = await chartPngFor(reply, config.chartUpload, logger, { interaction: i.id });
    if (png) {
      try {
        await i.editReply({
          ...interactionBody(reply, ATTACHED_CHART),
          files: [{ attachment: png, name: CHART_FILE }],
        });
        return;
      } catch (err) {
        logger.warn(
          { ...errorFields(err), interaction: i.id },
          'discord chart upload failed; answering with the chart URL',
        );
      }
    }
    await i.editReply(interactionBody(reply));
  };

  const onCommand = async (i: ChatInputCommandInteraction) => {
    const ephemeral = Boolean(registry.get(i.commandName)?.ephemeral);
    await i.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    const named = Object.fromEntries(i.options.data.map((o) => [o.name, o.value]));
    const reply = await registry.run(i.commandName, { named }, context(i));
    await answer(i, reply, ephemeral);
  };

  const onButton = async (i: ButtonInteraction) => {
    await i.deferReply();
    const { action, value } = parseCustomId(i.customId);
    const reply = await registry.runAction(action, value, context(i));
    await answer(i, reply, false);
  };

  const onAutocomplete = async (i: AutocompleteInteraction) => {
    const focused = i.options.getFocused(true);
    const def = registry.get(i.commandName);
    const option = (def?.options as readonly OptionDefinition[] | undefined)?.find((o) => o.name === focused.name);
    const choices = option?.kind === 'market' && guildAllowed(i) ? await marketChoices(String(focused.value)) : [];
    await i.respond(choices);
  };

  client.on(Events.InteractionCreate, (i) => {
    const work = i.isChatInputCommand()
      ? onCommand(i)
      : i.isAutocomplete()
        ? onAutocomplete(i)
        : i.isButton()
          ? onButton(i)
          : Promise.resolve();
    work.catch((err: unknown) =>
      logger.error({ ...errorFields(err), interaction: i.id, type: i.type }, 'discord interaction failed'),
    );
  });
  client.on(Events.Error, (err) => logger.error(errorFields(err), 'discord client error'));

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('discord: no READY within 30 s')), READY_TIMEOUT_MS);
    client.once(Events.ClientReady, () => {
      clearTimeout(timer);
      resolve();
    });
  });
  try {
    await client.login(d.token);
    await ready;
  } catch (err) {
    await client.destroy();
    throw err;
  }
  logger.info({ user: client.user?.tag }, 'discord ready');

  return {
    name: 'discord',
    client,
    maxPostMs: discordMaxPostMs(config.chartUpload, restTimeout),
    async post(channel: string, reply: Reply) {
      const { platform, parts } = parseChannelId(channel);
      const channelId = parts[parts.length - 1];
      if (platform !== 'discord' || !channelId) throw new ChannelGoneError(`not a discord channel: ${channel}`);
      const png = await chartPngFor(reply, config.chartUpload, logger, { channel });
      if (png) {
        const { flags: _ephemeral, ...body } = renderDiscord(reply, ATTACHED_CHART);
        try {
          const message = (await client.rest.post(Routes.channelMessages(channelId), {
            body: { ...body, attachments: [{ id: 0, filename: CHART_FILE }] },
            files: [{ name: CHART_FILE, data: png, contentType: 'image/png' }],
          })) as { id: string };
          return { ref: `${channelId}:${message.id}` };
        } catch (err) {
          const mapped = toPlatformError(err);
          // The URL version would meet the same limit or missing channel; the deliverer decides.
          // Anything else (50013 Missing Permissions without Attach Files, a refused file) is
          // retried at once without the file.
          if (mapped instanceof RateLimitedError || mapped instanceof ChannelGoneError) throw mapped;
          logger.warn({ ...errorFields(err), channel }, 'discord chart upload failed; posting with the chart URL');
        }
      }
      const { flags: _ephemeral, ...body } = renderDiscord(reply);
      try {
        const message = (await client.rest.post(Routes.channelMessages(channelId), { body })) as { id: string };
        return { ref: `${channelId}:${message.id}` };
      } catch (err) {
        throw toPlatformError(err);
      }
    },
    async stop() {
      await client.destroy();
    },
  };
}
