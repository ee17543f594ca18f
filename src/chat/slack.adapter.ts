/**
 * Slack through Bolt. Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), otherwise
 * Slack's HTTP requests arrive at `/slack/events` on the product's own Fastify server through the
 * receiver in slack.receiver.ts. Handlers acknowledge first (Slack allows 3 s), then answer via
 * response_url, or, with CHART_UPLOAD, as a file share of the chart PNG carrying the answer's blocks.
 *
 * Alert delivery posts with Bolt's WebClient with its retries off and 429s rejected, so the
 * deliverer sees RateLimitedError / ChannelGoneError and owns the retry policy.
 */
import bolt from '@slack/bolt';
import type { RespondFn, Logger as BoltLogger } from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { log, type Logger } from '../logger.js';
import { CHART_FILE, CHART_PNG_TIMEOUT_MS, chartPngFor } from './chart.js';
import { ChannelGoneError, RateLimitedError, parseChannelId, type ChatPlatform } from './platform.js';
import { CommandRegistry, quoteInput, type CommandContext } from './registry.js';
import { renderSlack, stripActionSuffix } from './render-slack.js';
import { migrateSlackChannelIds, slackChannelId } from './slack-channels.js';
import { FastifyReceiver, SLACK_EVENTS_PATH } from './slack.receiver.js';
import type { Reply } from './reply.js';
import { renamedOnSlack, slackBuiltInClashes, slackCommandTable, slackMentions } from './slack-commands.js';

const { App, LogLevel, webApi } = bolt;

/** Slack errors meaning the bot can no longer post there: retrying will not help. */
const CHANNEL_GONE = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'channel_is_archived',
  'team_access_not_granted',
]);

/**
 * Longest wait for a Slack Web API call or a response_url post before it is aborted: well under
 * the deliverer's 60 s lease, so a hung post cannot outlive it.
 */
export const SLACK_API_TIMEOUT_MS = 10_000;
/** How long a member's admin status (users.info) is trusted before it is asked again. */
const ADMIN_STATUS_TTL_MS = 5 * 60_000;
/** conversations.open errors a user can act on (or at least understand). */
const SLACK_DM_REASONS: Record<string, string> = {
  missing_scope: 'this Slack app lacks the im:write scope. An admin must reinstall it from slack-manifest.yml.',
  cannot_dm_bot: 'the user is a bot.',
  user_disabled: 'the account is deactivated.',
  user_not_found: 'Slack does not know the user.',
  user_not_visible: 'the user is not visible to this app (a Slack Connect or guest restriction).',
  not_allowed_token_type: 'the bot token cannot open direct messages.',
};

export interface SlackAdapter extends ChatPlatform {
  readonly mode: 'socket' | 'http';
  /** The slash commands this app answers, as Slack sends them (`/metric`, `/quiet`, or prefixed). */
  readonly commands: readonly string[];
  stop(): Promise<void>;
}

/** Bolt's logger interface over a pino child. */
function boltLogger(logger: Logger): BoltLogger {
  const text = (msg: unknown[]) =>
    msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' ');
  let level = LogLevel.INFO;
  return {
    debug: (...msg: unknown[]) => logger.debug(text(msg)),
    info: (...msg: unknown[]) => logger.info(text(msg)),
    warn: (...msg: unknown[]) => logger.warn(text(msg)),
    error: (...msg: unknown[]) => logger.error(text(msg)),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

function toPlatformError(err: unknown): unknown {
  const e = err as { code?: string; retryAfter?: number; data?: { error?: string }; statusCode?: number };
  if (e?.code === 'slack_webapi_rate_limited_error')
    return new RateLimitedError(Math.max(1, e.retryAfter ?? 1) * 1_000);
  if (e?.code === 'slack_webapi_platform_error' && e.data?.error && CHANNEL_GONE.has(e.data.error)) {
    return new ChannelGoneError(`slack: ${e.data.error}`);
  }
  if (e?.code === 'slack_webapi_http_error' && e.statusCode === 429) return new RateLimitedError(1_000);
  return err;
}

export async function startSlack(deps: {
  config: Config;
  registry: CommandRegistry;
  http?: FastifyInstance;
  /** Overrides SLACK_API_TIMEOUT_MS (tests). */
  apiTimeoutMs?: number;
}): Promise<SlackAdapter> {
  const { config, registry } = deps;
  const s = config.slack;
  if (!s.botToken) throw new Error('startSlack needs SLACK_BOT_TOKEN');
  const logger = log('chat', { platform: 'slack' });
  const botToken = s.botToken;
  const slackApiUrl = s.apiUrl ? `${s.apiUrl}/` : undefined;
  const timeout = deps.apiTimeoutMs ?? SLACK_API_TIMEOUT_MS;
  const clientOptions = {
    ...(slackApiUrl ? { slackApiUrl } : {}),
    // The deliverer owns retries: a 429 or a failure surfaces at once, and a hung request gives up
    // well before the deliverer's lease on the alert runs out.
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    // The Web API client aborts its request after this long (under POST_TIMEOUT_MS).
    timeout,
    // Bolt posts to response_url with this fetch, which has no timeout of its own.
    fetch: (input: string | URL | Request, init?: RequestInit) =>
      fetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeout) }),
  };
  // Uploads get their own client so that a stalled upload is aborted, never the answer after it.
  const uploads = config.chartUpload
    ? new webApi.WebClient(botToken, { ...clientOptions, timeout: CHART_PNG_TIMEOUT_MS, logger: boltLogger(logger) })
    : undefined;
  const socket = Boolean(s.appToken);
  let receiver: FastifyReceiver | undefined;
  if (!socket) {
    if (!s.signingSecret) throw new Error('Slack over HTTP needs SLACK_SIGNING_SECRET');
    if (!deps.http) throw new Error('Slack over HTTP needs the Fastify server');
    receiver = new FastifyReceiver({ http: deps.http, signingSecret: s.signingSecret, logger });
  }
  let identity: { botUserId?: string; botId?: string } = {};
  const app = new App({
    ...(socket
      ? {
          socketMode: true,
          appToken: s.appToken,
          // Bolt does not pass clientOptions on to the Socket Mode client.
          installerOptions: { clientOptions: slackApiUrl ? { slackApiUrl } : {} },
        }
      : { receiver }),
    // A custom authorize keeps Bolt from calling auth.test in its constructor.
    authorize: async () => ({ botToken, ...identity }),
    clientOptions,
    logger: boltLogger(logger),
    logLevel: LogLevel.INFO,
  });

  const allow = new Set(s.trackAllowlist.map((u) => u.replace(/^slack:/, '')));
  const teams = new Set(s.teamAllowlist);
  // The installing workspace keys every channel (slack-channels.ts); until auth.test answers, the
  // invoking user's team stands in.
  let installTeam: string | undefined;
  // Admin status from users.info, kept a few minutes per user.
  const admins = new Map<string, { at: number; admin: boolean }>();
  const isAdmin = async (userId: string): Promise<boolean> => {
    const known = admins.get(userId);
    if (known && Date.now() - known.at < ADMIN_STATUS_TTL_MS) return known.admin;
    try {
      const { user } = await app.client.users.info({ token: botToken, user: userId });
      const admin = Boolean(user?.is_admin || user?.is_owner || user?.is_primary_owner);
      if (admins.size >= 10_000) admins.clear();
      admins.set(userId, { at: Date.now(), admin });
      return admin;
    } catch (err) {
      // Refusing is the safe answer; the usual cause is the missing users:read scope.
      logger.warn(
        { err: (err as Error).message, user: userId },
        'slack users.info failed: alerting changes refused (the app needs the users:read scope)',
      );
      return false;
    }
  };
  const mayManage = async (userId: string): Promise<boolean> => {
    if (allow.size > 0) return allow.has(userId);
    return s.alertingPermission === 'members' || isAdmin(userId);
  };
  /** conversations.open with the user (needs im:write); the reasons Slack gives, in words. */
  const openDirect = async (teamId: string, userId: string): Promise<string> => {
    try {
      const res = await app.client.conversations.open({ token: botToken, users: userId, return_im: false });
      const id = (res.channel as { id?: string } | undefined)?.id;
      if (!id) throw new Error('conversations.open returned no channel');
      return slackChannelId(installTeam ?? teamId, id);
    } catch (err) {
      const code = (err as { data?: { error?: string } }).data?.error;
      const reason = code ? (SLACK_DM_REASONS[code] ?? `Slack refused (${code}).`) : undefined;
      if (!reason) throw err;
      throw new UserError(
        `I cannot send you direct messages: ${reason}`,
        'Track in a channel instead: /track <market>.',
      );
    }
  };

  const context = async (
    teamId: string,
    channelId: string,
    userId: string,
    userName?: string,
  ): Promise<CommandContext> => ({
    platform: 'slack',
    channel: slackChannelId(installTeam ?? teamId, channelId),
    user: `slack:${userId}`,
    userName,
    // A direct-message channel (D…) is the user's own: its alert buttons are theirs to press.
    mayManageChannel: channelId.startsWith('D') || (await mayManage(userId)),
    tenantAllowed: teams.size === 0 || teams.has(teamId),
    config,
    openDirect: () => openDirect(teamId, userId),
  });

  // What Slack sends -> the command's own name; every reply names the commands by their Slack names.
  const prefix = s.commandPrefix;
  const names = registry.list().map((c) => c.name);
  const commandTable = slackCommandTable(names, prefix);
  const clashes = slackBuiltInClashes(commandTable.keys());
  if (clashes.length > 0) throw new Error(`Slack keeps ${clashes.join(', ')} for itself: rename in slack-commands.ts`);
  const mentions = slackMentions(names, prefix);
  const onSlack = (reply: Reply): Reply => ({
    ...reply,
    title: mentions(reply.title),
    text: reply.text === undefined ? undefined : mentions(reply.text),
    footer: reply.footer === undefined ? undefined : mentions(reply.footer),
    fields: reply.fields?.map((f) => ({ ...f, name: mentions(f.name), value: mentions(f.value) })),
  });

  const answer = async (respond: RespondFn, reply: Reply, extra: Record<string, unknown> = {}) => {
    const message = renderSlack(reply);
    await respond({ response_type: reply.ephemeral ? 'ephemeral' : 'in_channel', ...extra, ...message });
  };

  /**
   * CHART_UPLOAD: posts the reply as one message whose chart is an uploaded PNG. files.uploadV2 with
   * channel_id and blocks shares the file in the channel with those blocks as its message, so the
   * answer stays a single message. Returns the file id, or undefined when there is nothing to upload
   * or the render or upload failed (logged; the caller sends the reply with the chart URL).
   */
  const uploadAnswer = async (
    channelId: string,
    reply: Reply,
    context: Record<string, unknown>,
  ): Promise<string | undefined> => {
    if (!uploads || !reply.chart) return undefined;
    const png = await chartPngFor(reply, true, logger, context);
    if (!png) return undefined;
    try {
      const { blocks } = renderSlack(reply, { withChart: false });
      const alt = reply.chart.alt.slice(0, 1000);
      const res = await uploads.filesUploadV2({
        channel_id: channelId,
        file: png,
        filename: CHART_FILE,
        title: alt,
        alt_text: alt,
        blocks,
      });
      const completed = res.files as Array<{ files?: Array<{ id?: string }> }>;
      return completed[0]?.files?.[0]?.id ?? 'uploaded';
    } catch (err) {
      logger.warn({ err, channel: channelId, ...context }, 'slack chart upload failed; answering with the chart URL');
      return undefined;
    }
  };

  app.command(/^\/[a-z][a-z0-9-]*$/, async ({ command, ack, respond }) => {
    await ack();
    const renamed = commandTable.has(command.command) ? undefined : renamedOnSlack(command.command, prefix);
    if (renamed) {
      await answer(respond, {
        title: `On Slack, /${renamed.name} is ${renamed.slackName}`,
        text:
          `Slack keeps /${renamed.name} for its own channel mute. ` +
          `Try ${renamed.slackName} 1h, or ${renamed.slackName} off.`,
        ephemeral: true,
      });
      return;
    }
    const name = commandTable.get(command.command);
    if (name === undefined) {
      // Not in this app's table (a prefix changed, say): never run a command under a name Slack was not given.
      await answer(respond, {
        title: `Unknown command "${quoteInput(command.command, 40)}"`,
        text: `Commands: ${[...commandTable.keys()].join(', ')}.`,
        ephemeral: true,
        tone: 'error',
      });
      return;
    }
    const raw = CommandRegistry.parseWords((command.text ?? '').split(/\s+/).filter(Boolean));
    const reply = onSlack(
      await registry.run(
        name,
        raw,
        await context(command.team_id, command.channel_id, command.user_id, command.user_name),
      ),
    );
    if (await uploadAnswer(command.channel_id, reply, { command: name })) return;
    await answer(respond, reply);
  });

  app.action(/.*/, async ({ ack, body, action, respond }) => {
    await ack();
    if (body.type !== 'block_actions' || !('action_id' in action)) return;
    const value = 'value' in action && typeof action.value === 'string' ? action.value : '';
    const teamId = body.team?.id ?? body.user.team_id ?? 'T';
    const channelId = body.channel?.id ?? 'C';
    const reply = onSlack(
      await registry.runAction(
        stripActionSuffix(action.action_id),
        value,
        await context(teamId, channelId, body.user.id, body.user.name),
      ),
    );
    if (await uploadAnswer(channelId, reply, { action: action.action_id })) return;
    await answer(respond, reply, { replace_original: false });
  });

  app.error(async (err) => {
    logger.error({ err }, 'slack handler failed');
  });

  if (receiver) await receiver.register();
  try {
    const who = await app.client.auth.test({ token: botToken });
    identity = { botUserId: who.user_id, botId: who.bot_id };
    installTeam = who.team_id;
    if (installTeam) {
      const moved = await migrateSlackChannelIds(installTeam);
      if (moved.channels)
        logger.info({ ...moved, team: installTeam }, 'slack channel ids moved to the installing team');
    }
    logger.info({ team: who.team, bot: who.user }, 'slack token accepted');
  } catch (err) {
    // A wrong token shows here first; commands will fail the same way, so say it loudly but run on.
    logger.error({ err: (err as Error).message }, 'slack auth.test failed: check SLACK_BOT_TOKEN');
  }
  await app.start();
  logger.info({ mode: socket ? 'socket' : 'http', path: socket ? undefined : SLACK_EVENTS_PATH }, 'slack ready');

  return {
    name: 'slack',
    mode: socket ? 'socket' : 'http',
    commands: [...commandTable.keys()],
    // chat.postMessage allows about one message a second per channel.
    postIntervalMs: 1_000,
    // No retries (retryConfig): with CHART_UPLOAD a render, the upload's three calls and, if it
    // fails, the post with the chart URL; else the post alone.
    maxPostMs: uploads ? CHART_PNG_TIMEOUT_MS * 4 + timeout : timeout,
    async post(channel: string, neutral: Reply) {
      const reply = onSlack(neutral);
      const { platform, parts } = parseChannelId(channel);
      const channelId = parts[parts.length - 1];
      if (platform !== 'slack' || !channelId) throw new ChannelGoneError(`not a slack channel: ${channel}`);
      const file = await uploadAnswer(channelId, reply, { channel });
      if (file) return { ref: `${channelId}:${file}` };
      const message = renderSlack(reply);
      try {
        const res = await app.client.chat.postMessage({
          token: botToken,
          channel: channelId,
          text: message.text,
          blocks: message.blocks,
          unfurl_links: false,
        });
        return { ref: `${channelId}:${res.ts ?? ''}` };
      } catch (err) {
        throw toPlatformError(err);
      }
    },
    async stop() {
      await app.stop().catch((err: unknown) => logger.warn({ err }, 'slack stop failed'));
    },
  };
}
