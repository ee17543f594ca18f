/**
 * Reply -> a Discord message body (embed + button components), as plain API JSON so it serves both
 * interaction replies and channel posts. Limits are Discord's: title 256, description 4096, 25
 * fields of 256/1024, footer 2048, custom_id 100, five buttons a row.
 */
import type { Reply } from './reply.js';

export const TONE_COLOURS = { info: 0x2f80ed, success: 0x27ae60, warning: 0xf2994a, error: 0xeb5757 } as const;

export interface DiscordEmbed {
  title: string;
  description?: string;
  color: number;
  fields?: Array<{ name: string; value: string; inline?: boolean }>;
  image?: { url: string };
  footer?: { text: string };
}

export interface DiscordMessage {
  embeds: DiscordEmbed[];
  components: Array<{ type: 1; components: Array<Record<string, unknown>> }>;
  /** 64 = ephemeral; only meaningful on interaction responses. */
  flags?: number;
  allowed_mentions: { parse: never[] };
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const STYLES = { primary: 1, danger: 4 } as const;

export function discordCustomId(action: string, value: string): string {
  return cut(`${action}|${value}`, 100);
}

export function parseCustomId(customId: string): { action: string; value: string } {
  const bar = customId.indexOf('|');
  return bar < 0 ? { action: customId, value: '' } : { action: customId.slice(0, bar), value: customId.slice(bar + 1) };
}

/** `chartImage` replaces the chart's URL, e.g. `attachment://chart.png` when the PNG is sent with the message. */
export function renderDiscord(reply: Reply, chartImage?: string): DiscordMessage {
  const embed: DiscordEmbed = { title: cut(reply.title, 256), color: TONE_COLOURS[reply.tone ?? 'info'] };
  if (reply.text) embed.description = cut(reply.text, 4096);
  if (reply.fields?.length) {
    embed.fields = reply.fields.slice(0, 25).map((f) => ({
      name: cut(f.name, 256),
      value: cut(f.value || '-', 1024),
      inline: Boolean(f.inline),
    }));
  }
  if (reply.chart) embed.image = { url: chartImage ?? reply.chart.url };
  if (reply.footer) embed.footer = { text: cut(reply.footer, 2048) };
  // Discord: at most 5 action rows of 5 buttons. A button's row starts a new action row; a row
  // longer than 5 wraps; whatever does not fit in 5 rows is left out.
  const components: DiscordMessage['components'] = [];
  let lastRow: number | undefined;
  for (const b of reply.buttons ?? []) {
    const current = components.at(-1);
    if (!current || current.components.length === 5 || (b.row ?? 0) !== lastRow) {
      if (components.length === 5) break;
      components.push({ type: 1, components: [] });
    }
    lastRow = b.row ?? 0;
    components.at(-1)!.components.push({
      type: 2,
      style: b.style ? STYLES[b.style] : 2,
      label: cut(b.label, 80),
      custom_id: discordCustomId(b.action, b.value),
    });
  }
  // Replies echo user input and market names; they must never ping anyone.
  return { embeds: [embed], components, allowed_mentions: { parse: [] }, ...(reply.ephemeral ? { flags: 64 } : {}) };
}
