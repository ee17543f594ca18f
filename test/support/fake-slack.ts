/**
 * A local Slack: the Web API (auth.test, chat.postMessage, conversations.open, the external file upload of
 * files.uploadV2, anything else answers ok), response_url endpoints, and a signer for requests "from
 * Slack" to the app's /slack/events. Records every request; `failPost` scripts 429s and channel
 * errors for delivery tests, `failUpload` a refused files.completeUploadExternal.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { FakeHttp, sendJson, type RecordedRequest, type UploadedPart } from './fake-http.js';

/** A file upload as the fake saw it: files.getUploadURLExternal, the upload URL, files.completeUploadExternal. */
export interface FakeSlackUpload {
  fileId: string;
  filename: string;
  /** The length announced to files.getUploadURLExternal. */
  length: number;
  /** The bytes posted to the upload URL. */
  bytes: Buffer;
  title?: string;
  /** Where files.completeUploadExternal shared it, and the blocks of that message. */
  channel?: string;
  blocks?: Array<Record<string, unknown>>;
}

export interface FakeSlack {
  http: FakeHttp;
  /** Web API base for SLACK_API_URL (`http://127.0.0.1:PORT/api`). */
  apiUrl: string;
  /** A response_url the fake accepts; `id` tells replies apart. */
  responseUrl(id: string): string;
  /** chat.postMessage requests with their form fields (blocks parsed). */
  posts(): Array<Record<string, unknown>>;
  /** Bodies posted to a response_url. */
  responses(id?: string): Array<Record<string, unknown>>;
  waitForResponse(id: string, count?: number): Promise<Record<string, unknown>>;
  waitForPost(count?: number): Promise<Record<string, unknown>>;
  /** Next chat.postMessage answers 429 with Retry-After (seconds). */
  rateLimitPost(retryAfterS: number, times?: number): void;
  /** Next chat.postMessage answers ok:false with this error (channel_not_found, not_in_channel, ...). */
  failPost(error: string, times?: number): void;
  /** The next `times` chat.postMessage and response_url requests are never answered. */
  stallPosts(times?: number): void;
  /** Stalled requests whose client closed the connection (aborted). */
  abortedByClient(): number;
  /** Next conversations.open (opening a DM) answers ok:false with this error (cannot_dm_bot, missing_scope, ...). */
  failOpenDirect(error: string, times?: number): void;
  /** Uploads that files.completeUploadExternal accepted. */
  uploads(): FakeSlackUpload[];
  waitForUpload(count?: number): Promise<FakeSlackUpload>;
  /** Next files.completeUploadExternal answers ok:false with this error (not_in_channel, ...). */
  failUpload(error: string, times?: number): void;
  /** Socket Mode: resolves once an app has connected and been sent `hello`. */
  socketConnected(): Promise<void>;
  /** Socket Mode: sends a slash command envelope; resolves with the app's ack of it. */
  socketCommand(fields: Parameters<typeof slashCommandFields>[0]): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export const FAKE_SLACK_TEAM = 'T0FAKE';
export const FAKE_SLACK_BOT_USER = 'U0BOT';

export async function startFakeSlack(): Promise<FakeSlack> {
  let ts = 1_700_000_000;
  let fileSeq = 0;
  const issued = new Map<string, { filename: string; length: number }>();
  const completed: Array<{ params: Record<string, unknown> }> = [];
  let stalls = 0;
  let aborted = 0;
  const http: FakeHttp = await new FakeHttp((r, res): void => {
    if (stalls > 0 && (r.path.startsWith('/response/') || r.path === '/api/chat.postMessage')) {
      stalls -= 1;
      res.once('close', () => {
        aborted += 1;
      });
      return;
    }
    if (r.path.startsWith('/response/')) return sendJson(res, 200, { ok: true });
    if (r.path.startsWith('/upload/')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end(`OK - ${r.bytes.length}`);
    }
    const method = r.path.replace(/^\/api\//, '');
    const params = (r.body ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'apps.connections.open':
        return sendJson(res, 200, { ok: true, url: `${http.url.replace('http', 'ws')}/socket` });
      case 'auth.test':
        return sendJson(res, 200, {
          ok: true,
          url: 'https://fake.slack.com/',
          team: 'Fake',
          user: 'chatops',
          team_id: FAKE_SLACK_TEAM,
          user_id: FAKE_SLACK_BOT_USER,
          bot_id: 'B0BOT',
        });
      case 'users.info': {
        // Ids naming a role play it: U0ADMIN... is a workspace admin, U0OWNER... an owner.
        const user = String(params.user ?? '');
        return sendJson(res, 200, {
          ok: true,
          user: {
            id: user,
            name: user.toLowerCase(),
            is_admin: user.includes('ADMIN'),
            is_owner: user.includes('OWNER'),
          },
        });
      }
      case 'conversations.open':
        // The DM channel of a user is D + the user id without its U.
        return sendJson(res, 200, { ok: true, channel: { id: `D${String(params.users ?? '').replace(/^U/, '')}` } });
      case 'chat.postMessage':
        ts += 1;
        return sendJson(res, 200, {
          ok: true,
          channel: params.channel,
          ts: `${ts}.000100`,
          message: { text: params.text },
        });
      case 'files.getUploadURLExternal': {
        const fileId = `F0FAKE${String(++fileSeq).padStart(4, '0')}`;
        issued.set(fileId, { filename: String(params.filename), length: Number(params.length) });
        return sendJson(res, 200, { ok: true, upload_url: `${http.url}/upload/${fileId}`, file_id: fileId });
      }
      case 'files.completeUploadExternal': {
        const files = (params.files ?? []) as Array<{ id: string; title?: string }>;
        completed.push({ params });
        return sendJson(res, 200, {
          ok: true,
          files: files.map((f) => ({
            id: f.id,
            title: f.title,
            mimetype: 'image/png',
            channels: params.channel_id ? [params.channel_id] : [],
          })),
        });
      }
      default:
        return sendJson(res, 200, { ok: true });
    }
  }).listen();
  /** Each upload files.completeUploadExternal accepted (a scripted failure never reaches the route). */
  const uploads = (): FakeSlackUpload[] =>
    completed.flatMap(({ params }) =>
      ((params.files ?? []) as Array<{ id: string; title?: string }>).flatMap((f) => {
        const asked = issued.get(f.id);
        const sent = http.find((r) => r.path === `/upload/${f.id}`)[0];
        if (!asked || !sent) return [];
        // files.uploadV2 posts the bytes as the multipart part `body`.
        const part = (sent.body as Record<string, UploadedPart> | undefined)?.body;
        return [
          {
            fileId: f.id,
            ...asked,
            bytes: part?.bytes ?? sent.bytes,
            title: f.title,
            channel: params.channel_id as string | undefined,
            blocks: params.blocks as Array<Record<string, unknown>> | undefined,
          },
        ];
      }),
    );
  const sockets = new Set<WebSocket>();
  const acks = new Map<string, (body: Record<string, unknown>) => void>();
  let connected: (() => void) | undefined;
  const onConnect = new Promise<void>((resolve) => (connected = resolve));
  const wss = new WebSocketServer({ server: http.server, path: '/socket' });
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { envelope_id?: string };
      if (msg.envelope_id) acks.get(msg.envelope_id)?.(msg as Record<string, unknown>);
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: 1,
        debug_info: { host: 'fake' },
        connection_info: { app_id: 'A0APP' },
      }),
    );
    connected?.();
  });
  const isPost = (r: RecordedRequest) => r.path === '/api/chat.postMessage';
  const isResponse = (id?: string) => (r: RecordedRequest) =>
    id ? r.path === `/response/${id}` : r.path.startsWith('/response/');
  return {
    http,
    apiUrl: `${http.url}/api`,
    responseUrl: (id) => `${http.url}/response/${encodeURIComponent(id)}`,
    posts: () => http.find(isPost).map((r) => r.body as Record<string, unknown>),
    responses: (id) => http.find(isResponse(id)).map((r) => r.body as Record<string, unknown>),
    waitForResponse: async (id, count = 1) =>
      (await http.waitFor(isResponse(id), { count })).body as Record<string, unknown>,
    waitForPost: async (count = 1) => (await http.waitFor(isPost, { count })).body as Record<string, unknown>,
    rateLimitPost: (retryAfterS, times = 1) =>
      http.fail(isPost, { status: 429, retryAfter: retryAfterS, body: { ok: false, error: 'ratelimited' } }, times),
    failPost: (error, times = 1) => http.fail(isPost, { status: 200, body: { ok: false, error } }, times),
    stallPosts: (times = 1) => {
      stalls += times;
    },
    abortedByClient: () => aborted,
    failOpenDirect: (error, times = 1) =>
      http.fail('/api/conversations.open', { status: 200, body: { ok: false, error } }, times),
    uploads,
    waitForUpload: async (count = 1) => {
      await http.waitFor((r) => r.path === '/api/files.completeUploadExternal' && uploads().length >= count);
      return uploads()[count - 1]!;
    },
    failUpload: (error, times = 1) =>
      http.fail('/api/files.completeUploadExternal', { status: 200, body: { ok: false, error } }, times),
    socketConnected: () => onConnect,
    socketCommand: (fields) => {
      const envelopeId = randomUUID();
      const acked = new Promise<Record<string, unknown>>((resolve) => acks.set(envelopeId, resolve));
      const envelope = {
        envelope_id: envelopeId,
        type: 'slash_commands',
        payload: slashCommandFields(fields),
        accepts_response_payload: true,
      };
      for (const ws of sockets) ws.send(JSON.stringify(envelope));
      return acked;
    },
    async close() {
      // A clean close handshake: a cut connection makes the Socket Mode client wait 30 s for one.
      await Promise.all(
        [...sockets].map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === ws.CLOSED) return resolve();
              const timer = setTimeout(() => {
                ws.terminate();
                resolve();
              }, 1_000);
              ws.once('close', () => {
                clearTimeout(timer);
                resolve();
              });
              ws.close(1000);
            }),
        ),
      );
      wss.close();
      await http.close();
    },
  };
}

/** Headers Slack would send with `body` at `timestampS`, signed with `secret`. */
export function signSlackRequest(
  secret: string,
  body: string,
  timestampS = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestampS}:${body}`).digest('hex')}`;
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestampS),
    'x-slack-signature': signature,
  };
}

/** A slash command's fields as Slack sends them (form over HTTP, JSON in a Socket Mode envelope). */
export function slashCommandFields(fields: {
  command: string;
  text: string;
  responseUrl: string;
  channel?: string;
  user?: string;
  team?: string;
}): Record<string, string> {
  return {
    token: 'legacy-verification-token',
    team_id: fields.team ?? FAKE_SLACK_TEAM,
    team_domain: 'fake',
    channel_id: fields.channel ?? 'C0CHAN',
    channel_name: 'markets',
    user_id: fields.user ?? 'U0USER',
    user_name: 'alice',
    command: fields.command,
    text: fields.text,
    api_app_id: 'A0APP',
    is_enterprise_install: 'false',
    response_url: fields.responseUrl,
    trigger_id: '1.2.3',
  };
}

/** A slash-command form body as Slack posts it. */
export function slashCommandBody(fields: Parameters<typeof slashCommandFields>[0]): string {
  return new URLSearchParams(slashCommandFields(fields)).toString();
}

/** A block_actions (button click) form body. */
export function blockActionBody(fields: {
  actionId: string;
  value: string;
  responseUrl: string;
  channel?: string;
  user?: string;
}): string {
  const payload = {
    type: 'block_actions',
    team: { id: FAKE_SLACK_TEAM, domain: 'fake' },
    user: { id: fields.user ?? 'U0USER', username: 'alice', name: 'alice', team_id: FAKE_SLACK_TEAM },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1.1', channel_id: fields.channel ?? 'C0CHAN', is_ephemeral: false },
    trigger_id: '1.2.3',
    channel: { id: fields.channel ?? 'C0CHAN', name: 'markets' },
    response_url: fields.responseUrl,
    actions: [
      {
        type: 'button',
        action_id: fields.actionId,
        block_id: 'b1',
        value: fields.value,
        text: { type: 'plain_text', text: 'x' },
        action_ts: '1.2',
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}
