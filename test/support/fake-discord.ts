/**
 * A local Discord: REST (gateway/bot, interaction callbacks, webhook edits and follow-ups, command
 * registration, channel messages, DM channels) and a gateway over WebSocket on the same port (HELLO, IDENTIFY,
 * READY with no guilds, heartbeats, then whatever dispatches a test sends). Records every request;
 * `failChannelPost` scripts 429s and "channel gone" answers for delivery tests. Messages with files
 * arrive as multipart (payload_json + files[n]); `discordPayload` and `discordFiles` read them back.
 */
import type { ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { FakeHttp, sendJson, type RecordedRequest, type UploadedPart } from './fake-http.js';

/** A message request's JSON, whether sent plain or as the payload_json part of a multipart upload. */
export function discordPayload(r: RecordedRequest): Record<string, any> {
  const body = (r.body ?? {}) as Record<string, unknown>;
  return (body.payload_json as Record<string, any> | undefined) ?? body;
}

/** The files a message request uploaded (multipart parts named files[n]). */
export function discordFiles(r: RecordedRequest): UploadedPart[] {
  const body = (r.body ?? {}) as Record<string, unknown>;
  return Object.entries(body)
    .filter(([k]) => /^files\[\d+\]$/.test(k))
    .map(([, v]) => v as UploadedPart);
}

export const FAKE_APP_ID = '100000000000000001';
export const FAKE_BOT_ID = '100000000000000002';
export const FAKE_GUILD_ID = '200000000000000001';
export const FAKE_CHANNEL_ID = '300000000000000001';
export const MANAGE_CHANNELS = 1n << 4n;

export interface FakeDiscord {
  http: FakeHttp;
  /** For DISCORD_API_URL: discord.js appends /v10. */
  apiUrl: string;
  /** Resolves once a client has identified and received READY. */
  ready(): Promise<{ token: string; intents: number }>;
  /** Sends a gateway dispatch to every connected client. */
  dispatch(t: string, d: unknown): void;
  /** Sends INTERACTION_CREATE for a slash command; returns its id and token. */
  slashCommand(
    name: string,
    options: Array<{ name: string; type: number; value: string | number; focused?: boolean }>,
    opts?: InteractionOptions,
  ): { id: string; token: string };
  autocomplete(
    name: string,
    options: Array<{ name: string; type: number; value: string | number; focused?: boolean }>,
    opts?: InteractionOptions,
  ): { id: string; token: string };
  button(customId: string, opts?: InteractionOptions): { id: string; token: string };
  callbacks(id?: string): RecordedRequest[];
  waitForCallback(id: string): Promise<RecordedRequest>;
  waitForEdit(token: string, count?: number): Promise<RecordedRequest>;
  waitForFollowUp(token: string): Promise<RecordedRequest>;
  channelPosts(channelId?: string): RecordedRequest[];
  /** Next channel message post answers 429 (Retry-After seconds) or 404/403 as Discord does. */
  failChannelPost(
    kind:
      | 'rate-limit'
      | 'global-rate-limit'
      | 'unknown-channel'
      | 'missing-access'
      | 'missing-permissions'
      | 'cannot-dm',
    retryAfterS?: number,
    times?: number,
  ): void;
  /** The next `times` channel message posts get no answer at all: the request is held open. */
  stallChannelPosts(times?: number): void;
  /** Held requests whose client closed the connection (aborted them). */
  abortedByClient(): number;
  /** Registered command sets by route. */
  registered(): Map<string, unknown[]>;
  close(): Promise<void>;
}

export interface InteractionOptions {
  userId?: string;
  /** Permission bits of the invoking member (default: Manage Channels). */
  permissions?: bigint;
  channelId?: string;
  guildId?: string;
}

let nextId = 500_000_000_000_000_000n;
const snowflake = () => String(nextId++);

function messageFrom(body: Record<string, unknown>, channelId: string): Record<string, unknown> {
  return {
    id: snowflake(),
    channel_id: channelId,
    author: { id: FAKE_BOT_ID, username: 'chatops', discriminator: '0', avatar: null, global_name: null, bot: true },
    content: body.content ?? '',
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    embeds: body.embeds ?? [],
    components: body.components ?? [],
    pinned: false,
    type: 0,
    flags: body.flags ?? 0,
    application_id: FAKE_APP_ID,
    webhook_id: FAKE_APP_ID,
  };
}

export async function startFakeDiscord(): Promise<FakeDiscord> {
  const registered = new Map<string, unknown[]>();
  const sockets = new Set<WebSocket>();
  let seq = 0;
  let identified: ((v: { token: string; intents: number }) => void) | undefined;
  let identifiedValue: { token: string; intents: number } | undefined;
  let stalls = 0;
  let aborted = 0;

  const route = (r: RecordedRequest, res: ServerResponse): void => {
    const path = r.path.replace(/^\/api\/v\d+/, '');
    const body = discordPayload(r);
    if (r.method === 'GET' && path === '/gateway/bot') {
      return sendJson(res, 200, {
        url: http.url.replace('http', 'ws'),
        shards: 1,
        session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
      });
    }
    if (r.method === 'GET' && path === '/gateway') return sendJson(res, 200, { url: http.url.replace('http', 'ws') });
    if (r.method === 'POST' && /^\/interactions\/\d+\/[^/]+\/callback$/.test(path)) {
      return r.query.get('with_response') === 'true'
        ? sendJson(res, 200, { interaction: { id: path.split('/')[2], type: 2 } })
        : sendJson(res, 204, undefined);
    }
    let m = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(%40original|@original|\d+)$/.exec(path);
    if (m) {
      if (r.method === 'DELETE') return sendJson(res, 204, undefined);
      return sendJson(res, 200, messageFrom(body, FAKE_CHANNEL_ID));
    }
    m = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(path);
    if (m && r.method === 'POST') return sendJson(res, 200, messageFrom(body, FAKE_CHANNEL_ID));
    m = /^\/applications\/(\d+)(\/guilds\/\d+)?\/commands$/.exec(path);
    if (m && r.method === 'PUT') {
      const list = (Array.isArray(r.body) ? r.body : []) as Array<Record<string, unknown>>;
      registered.set(path, list);
      return sendJson(
        res,
        200,
        list.map((c) => ({ ...c, id: snowflake(), application_id: FAKE_APP_ID, version: '1' })),
      );
    }
    if (r.method === 'POST' && path === '/users/@me/channels') {
      // The bot's DM channel with a user: 9 + the user's id, so tests can predict it.
      const recipient = String((body as { recipient_id?: string }).recipient_id ?? '');
      return sendJson(res, 200, { id: `9${recipient.slice(1)}`, type: 1, recipients: [{ id: recipient }] });
    }
    m = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (m && r.method === 'POST' && stalls > 0) {
      stalls -= 1;
      res.once('close', () => {
        aborted += 1;
      });
      return;
    }
    if (m && r.method === 'POST') return sendJson(res, 200, messageFrom(body, m[1]!));
    return sendJson(res, 404, { message: '404: Not Found', code: 0 });
  };
  const http: FakeHttp = new FakeHttp(route);
  const wss = new WebSocketServer({ server: http.server });
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null }));
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { op: number; d: Record<string, unknown> };
      if (msg.op === 1) ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      if (msg.op === 2) {
        seq += 1;
        ws.send(
          JSON.stringify({
            op: 0,
            s: seq,
            t: 'READY',
            d: {
              v: 10,
              user: {
                id: FAKE_BOT_ID,
                username: 'chatops',
                discriminator: '0',
                avatar: null,
                global_name: null,
                bot: true,
                flags: 0,
              },
              guilds: [],
              session_id: 'fake-session',
              resume_gateway_url: http.url.replace('http', 'ws'),
              shard: [0, 1],
              application: { id: FAKE_APP_ID, flags: 0 },
            },
          }),
        );
        identifiedValue = { token: String(msg.d.token), intents: Number(msg.d.intents) };
        identified?.(identifiedValue);
      }
    });
  });
  await http.listen();

  const dispatch = (t: string, d: unknown) => {
    seq += 1;
    for (const ws of sockets) ws.send(JSON.stringify({ op: 0, s: seq, t, d }));
  };

  const interaction = (
    type: number,
    data: Record<string, unknown>,
    opts: InteractionOptions = {},
    extra: Record<string, unknown> = {},
  ) => {
    const id = snowflake();
    const token = `tok-${id}`;
    const userId = opts.userId ?? '400000000000000001';
    const channelId = opts.channelId ?? FAKE_CHANNEL_ID;
    const guildId = opts.guildId ?? FAKE_GUILD_ID;
    dispatch('INTERACTION_CREATE', {
      id,
      application_id: FAKE_APP_ID,
      type,
      data,
      guild_id: guildId,
      channel_id: channelId,
      channel: { id: channelId, type: 0, guild_id: guildId, name: 'markets' },
      member: {
        user: { id: userId, username: 'alice', discriminator: '0', avatar: null, global_name: 'Alice' },
        roles: [],
        permissions: String(opts.permissions ?? MANAGE_CHANNELS),
        joined_at: new Date(0).toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
      },
      app_permissions: '2251799813685247',
      token,
      version: 1,
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': guildId },
      context: 0,
      ...extra,
    });
    return { id, token };
  };

  const byToken = (token: string, suffix: string) => (r: RecordedRequest) =>
    r.path.includes(`/webhooks/${FAKE_APP_ID}/${token}${suffix}`);

  return {
    http,
    apiUrl: `${http.url}/api`,
    ready: () =>
      identifiedValue ? Promise.resolve(identifiedValue) : new Promise((resolve) => (identified = resolve)),
    dispatch,
    slashCommand: (name, options, opts) => interaction(2, { id: snowflake(), name, type: 1, options }, opts),
    autocomplete: (name, options, opts) => interaction(4, { id: snowflake(), name, type: 1, options }, opts),
    button: (customId, opts) =>
      interaction(3, { custom_id: customId, component_type: 2 }, opts, {
        message: messageFrom({ content: '' }, opts?.channelId ?? FAKE_CHANNEL_ID),
      }),
    callbacks: (id) =>
      http.find(
        (r) => /\/interactions\/\d+\/[^/]+\/callback$/.test(r.path) && (!id || r.path.includes(`/interactions/${id}/`)),
      ),
    waitForCallback: (id) =>
      http.waitFor((r) => r.path.includes(`/interactions/${id}/`) && r.path.endsWith('/callback')),
    waitForEdit: (token, count = 1) =>
      http.waitFor((r) => r.method === 'PATCH' && byToken(token, '/messages/')(r), { count }),
    waitForFollowUp: (token) =>
      http.waitFor((r) => r.method === 'POST' && r.path.endsWith(`/webhooks/${FAKE_APP_ID}/${token}`)),
    channelPosts: (channelId) =>
      http.find(
        (r) =>
          r.method === 'POST' &&
          /\/channels\/\d+\/messages$/.test(r.path) &&
          (!channelId || r.path.includes(`/channels/${channelId}/`)),
      ),
    failChannelPost: (kind, retryAfterS = 1, times = 1) => {
      const match = (r: RecordedRequest) => r.method === 'POST' && /\/channels\/\d+\/messages$/.test(r.path);
      if (kind === 'rate-limit' || kind === 'global-rate-limit') {
        const global = kind === 'global-rate-limit';
        http.fail(
          match,
          {
            status: 429,
            retryAfter: retryAfterS,
            body: { message: 'You are being rate limited.', retry_after: retryAfterS, global },
            headers: {
              'x-ratelimit-scope': global ? 'global' : 'user',
              ...(global ? { 'x-ratelimit-global': 'true' } : {}),
            },
          },
          times,
        );
      } else if (kind === 'unknown-channel') {
        http.fail(match, { status: 404, body: { message: 'Unknown Channel', code: 10003 } }, times);
      } else if (kind === 'missing-permissions') {
        http.fail(match, { status: 403, body: { message: 'Missing Permissions', code: 50013 } }, times);
      } else if (kind === 'cannot-dm') {
        http.fail(match, { status: 403, body: { message: 'Cannot send messages to this user', code: 50007 } }, times);
      } else {
        http.fail(match, { status: 403, body: { message: 'Missing Access', code: 50001 } }, times);
      }
    },
    stallChannelPosts: (times = 1) => {
      stalls += times;
    },
    abortedByClient: () => aborted,
    registered: () => registered,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await http.close();
    },
  };
}
