/**
 * Slack through Bolt. Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), otherwise
 * Slack's HTTP requests arrive at `/slack/events` on the product's own Fastify server through the
 * small receiver below, which verifies each request's signature within a 5-minute replay window
 * before Bolt sees it. Handlers acknowledge first (Slack allows 3 s), then answer via response_url,
 * or, with CHART_UPLOAD, as a file share of the chart PNG carrying the answer's blocks.
 *
 * Alert delivery posts with Bolt's WebClient with its retries off and 429s rejected, so the
 * deliverer sees RateLimitedError / ChannelGoneError and owns the retry policy.
 */
import bolt from '@slack/bolt';
import type { App as BoltApp, Receiver, ReceiverEvent, RespondFn, Logger as BoltLogger } from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { log, type Logger } from '../logger.js';
import { CHART_FILE, CHART_PNG_TIMEOUT_MS, chartPngFor } from './chart.js';
import { ChannelGoneError, POST_TIMEOUT_MS, RateLimitedError, parseChannelId, type ChatPlatform } from './platform.js';
import { CommandRegistry, quoteInput, type CommandContext } from './registry.js';
import { renderSlack, stripActionSuffix } from './render-slack.js';
import type { Reply } from './reply.js';
import { renamedOnSlack, slackBuiltInClashes, slackCommandTable, slackMentions } from './slack-commands.js';

const { App, LogLevel, verifySlackRequest, webApi } = bolt;

export const SLACK_EVENTS_PATH = '/slack/events';
const REPLAY_WINDOW_S = 5 * 60;
/** Bolt answers Slack itself if a handler never acks; Slack gives up after 3 s anyway. */
const ACK_TIMEOUT_MS = 3_500;
/** Slack errors meaning the bot can no longer post there: retrying will not help. */
const CHANNEL_GONE = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'channel_is_archived',
  'team_access_not_granted',
]);

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

/**
 * A Bolt receiver mounted on an existing Fastify server. Raw bodies are kept for the signature, so
 * the route lives in its own encapsulated scope with a string body parser.
 */
export class FastifyReceiver implements Receiver {
  private bolt?: BoltApp;

  constructor(
    private readonly opts: {
      http: FastifyInstance;
      signingSecret: string;
      path?: string;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  init(app: BoltApp): void {
    this.bolt = app;
  }

  /** Adds the route; call before the server starts listening. */
  async register(): Promise<void> {
    const path = this.opts.path ?? SLACK_EVENTS_PATH;
    await this.opts.http.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1_048_576 }, (_req, body, done) =>
        done(null, body),
      );
      scope.post(path, async (request, reply) => {
        const raw = typeof request.body === 'string' ? request.body : '';
        const result = await this.handle(raw, request.headers);
        reply.code(result.status);
        if (result.body === undefined) return reply.send('');
        return reply.send(result.body);
      });
    });
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  /** Verifies and dispatches one request; returns what Slack gets back. */
  async handle(
    raw: string,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<{ status: number; body?: unknown }> {
    const header = (name: string) => {
      const v = headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const contentType = header('content-type') ?? '';
    const form = contentType.includes('application/x-www-form-urlencoded') ? new URLSearchParams(raw) : undefined;
    // Slack's ssl_check carries no signature and needs only a 200.
    if (form?.get('ssl_check') === '1') return { status: 200 };

    const nowMs = (this.opts.now ?? Date.now)();
    const timestamp = Number(header('x-slack-request-timestamp'));
    const signature = header('x-slack-signature') ?? '';
    // Bolt's helper rejects old timestamps only; a request dated in the future is refused here too.
    if (!Number.isFinite(timestamp) || Math.abs(nowMs / 1000 - timestamp) > REPLAY_WINDOW_S) {
      this.opts.logger.warn(
        { timestamp: header('x-slack-request-timestamp') },
        'slack request outside the replay window',
      );
      return { status: 401, body: { error: 'stale or missing timestamp' } };
    }
    try {
      verifySlackRequest({
        signingSecret: this.opts.signingSecret,
        body: raw,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
        nowMilliseconds: nowMs,
      });
    } catch {
      this.opts.logger.warn('slack request with a bad signature');
      return { status: 401, body: { error: 'invalid signature' } };
    }

    let body: Record<string, unknown>;
    try {
      if (form) {
        const payload = form.get('payload');
        body = payload !== null ? (JSON.parse(payload) as Record<string, unknown>) : Object.fromEntries(form);
      } else {
        body = JSON.parse(raw) as Record<string, unknown>;
      }
    } catch {
      return { status: 400, body: { error: 'unreadable body' } };
    }
    if (body === null || typeof body !== 'object') return { status: 400, body: { error: 'unreadable body' } };
    if (body.type === 'url_verification') return { status: 200, body: { challenge: body.challenge } };
    if (!this.bolt) return { status: 503 };

    let settle!: (r: { status: number; body?: unknown }) => void;
    const answered = new Promise<{ status: number; body?: unknown }>((resolve) => (settle = resolve));
    let acked = false;
    const event: ReceiverEvent = {
      body,
      retryNum: Number(header('x-slack-retry-num')) || undefined,
      retryReason: header('x-slack-retry-reason'),
      ack: async (response?: unknown) => {
        if (acked) return;
        acked = true;
        settle({ status: 200, body: response === undefined || response === '' ? undefined : response });
      },
    };
    this.bolt.processEvent(event).catch((err: unknown) => {
      this.opts.logger.error({ err }, 'slack event processing failed');
      if (!acked) settle({ status: 500 });
    });
    const timer = setTimeout(() => settle({ status: 404 }), ACK_TIMEOUT_MS);
    try {
      return await answered;
    } finally {
      clearTimeout(timer);
    }
  }
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
}): Promise<SlackAdapter> {
  const { config, registry } = deps;
  const s = config.slack;
  if (!s.botToken) throw new Error('startSlack needs SLACK_BOT_TOKEN');
  const logger = log('chat', { platform: 'slack' });
  const botToken = s.botToken;
  const slackApiUrl = s.apiUrl ? `${s.apiUrl}/` : undefined;
  const clientOptions = {
    ...(slackApiUrl ? { slackApiUrl } : {}),
    // The deliverer owns retries: a 429 or a failure surfaces at once, and a hung request gives up
    // well before the deliverer's lease on the alert runs out.
    retryConfig: { retries: 0 },
    timeout: POST_TIMEOUT_MS,
    rejectRateLimitedCalls: true,
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

  /** conversations.open with the user (needs im:write); the reasons Slack gives, in words. */
  const openDirect = async (teamId: string, userId: string): Promise<string> => {
    try {
      const res = await app.client.conversations.open({ token: botToken, users: userId, return_im: false });
      const id = (res.channel as { id?: string } | undefined)?.id;
      if (!id) throw new Error('conversations.open returned no channel');
      return `slack:${teamId}:${id}`;
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

  const context = (teamId: string, channelId: string, userId: string, userName?: string): CommandContext => ({
    platform: 'slack',
    channel: `slack:${teamId}:${channelId}`,
    user: `slack:${userId}`,
    userName,
    // A direct-message channel (D…) is the user's own: its alert buttons are theirs to press.
    mayManageChannel: allow.size === 0 || allow.has(userId) || channelId.startsWith('D'),
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
      await registry.run(name, raw, context(command.team_id, command.channel_id, command.user_id, command.user_name)),
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
        context(teamId, channelId, body.user.id, body.user.name),
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
