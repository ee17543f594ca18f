/**
 * Reply -> Slack Block Kit. Text is escaped (&, <, >) so a market name or a user's input can never
 * become a mention or a link; limits are Slack's (header 150, section 3000, field 2000, 10 fields).
 */
import type { Reply } from './reply.js';

export type SlackBlock = { type: string } & Record<string, unknown>;

export interface SlackMessage {
  /** Fallback for notifications and clients without blocks. */
  text: string;
  blocks: SlackBlock[];
}

export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const mrkdwn = (text: string, max = 3000) => ({ type: 'mrkdwn', text: cut(escapeSlack(text), max) });

/** Buttons sharing an action get `#n` suffixes, as Slack wants action_ids unique in a block. */
export function slackActionId(action: string, index: number, all: readonly string[]): string {
  return all.indexOf(action) === all.lastIndexOf(action) ? action : `${action}#${index}`;
}

export function stripActionSuffix(actionId: string): string {
  return actionId.replace(/#\d+$/, '');
}

/** `withChart: false` leaves the image block out, for a message whose chart is an uploaded file. */
export function renderSlack(reply: Reply, { withChart = true } = {}): SlackMessage {
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(reply.title, 150), emoji: true } },
  ];
  if (reply.text) blocks.push({ type: 'section', text: mrkdwn(reply.text) });
  const inline: SlackBlock[] = [];
  const flush = () => {
    // Slack takes at most 10 fields per section.
    for (let i = 0; i < inline.length; i += 10) blocks.push({ type: 'section', fields: inline.slice(i, i + 10) });
    inline.length = 0;
  };
  for (const f of reply.fields ?? []) {
    if (f.inline) {
      inline.push(mrkdwn(`*${f.name}*\n${f.value}`, 2000));
    } else {
      flush();
      blocks.push({ type: 'section', text: mrkdwn(`*${f.name}*\n${f.value}`) });
    }
  }
  flush();
  if (reply.chart && withChart) {
    blocks.push({ type: 'image', image_url: reply.chart.url, alt_text: cut(reply.chart.alt, 2000) });
  }
  if (reply.buttons?.length) {
    const ids = reply.buttons.map((b) => b.action);
    // One actions block per row (Slack: at most 25 elements a block); unrowed buttons share one.
    const rows = new Map<number, SlackBlock[]>();
    reply.buttons.slice(0, 25).forEach((b, i) => {
      const row = rows.get(b.row ?? 0) ?? [];
      row.push({
        type: 'button',
        text: { type: 'plain_text', text: cut(b.label, 75) },
        action_id: slackActionId(b.action, i, ids),
        value: cut(b.value, 2000),
        ...(b.style ? { style: b.style } : {}),
      });
      rows.set(b.row ?? 0, row);
    });
    for (const elements of rows.values()) blocks.push({ type: 'actions', elements });
  }
  if (reply.footer) blocks.push({ type: 'context', elements: [mrkdwn(reply.footer)] });
  // The fallback text is parsed for mentions (and notifies), so it is escaped like any mrkdwn.
  const text = cut(escapeSlack([reply.title, reply.text].filter(Boolean).join('\n')), 3000);
  return { text, blocks };
}
