/**
 * Reply -> plain text for the console REPL: the same content as Slack and Discord, the chart drawn
 * in text (its URL one command away: `!chart`), buttons as the `!action value` line that clicks them.
 */
import type { Reply } from './reply.js';
import { terminalChart } from './terminal-chart.js';

/** What the console prints under a chart drawn in text: the command that prints its URL. */
export const CHART_LINK_HINT = 'Chart link: !chart';

export function renderConsole(reply: Reply): string {
  const lines = [reply.tone === 'error' ? `! ${reply.title}` : `# ${reply.title}`];
  if (reply.text) lines.push(reply.text);
  const fields = reply.fields ?? [];
  if (fields.length) {
    const width = Math.min(24, Math.max(...fields.map((f) => (f.value.includes('\n') ? 0 : f.name.length))));
    for (const f of fields) {
      if (f.value.includes('\n')) lines.push(`${f.name}:`, ...f.value.split('\n').map((l) => `  ${l}`));
      else lines.push(`${f.name.padEnd(width)}  ${f.value}`);
    }
  }
  if (reply.chart) {
    // A chart without its series (built elsewhere) still gets its URL.
    const drawn = terminalChart(reply.chart);
    lines.push(...(drawn ? [drawn, CHART_LINK_HINT] : [`Chart: ${reply.chart.url}`]));
  }
  for (const b of reply.buttons ?? []) lines.push(`[${b.label}] !${b.action} ${b.value}`);
  if (reply.footer) lines.push(`-- ${reply.footer}`);
  return `${lines.join('\n')}\n`;
}
