/**
 * The platform-neutral reply model. Commands and alerts build one; each adapter renders it
 * (Slack Block Kit, a Discord embed, console text). No adapter adds content of its own.
 */
export interface ReplyField {
  name: string;
  value: string;
  /** Short fields sit side by side where the platform allows it. */
  inline?: boolean;
}

export interface ReplyButton {
  /** Stable action id the adapter routes back to the command registry (e.g. `snooze:1h`). */
  action: string;
  label: string;
  /** Opaque value carried with the click (e.g. a subscription id). */
  value: string;
  style?: 'primary' | 'danger';
  /** Buttons sharing a row number sit together (a Slack actions block, a Discord action row). */
  row?: number;
}

/** What QuickChart needs to draw the chart again as a PNG (the same config the URL carries). */
export interface ChartRender {
  /** QUICKCHART_URL. */
  baseUrl: string;
  config: unknown;
  width: number;
  height: number;
}

export interface ReplyChart {
  /** A URL short enough for every platform (Slack image_url <= 3000, Discord embed <= 2048). */
  url: string;
  alt: string;
  /** Present on charts built by chart.ts; lets an adapter upload a PNG instead (CHART_UPLOAD). */
  render?: ChartRender;
}

export interface Reply {
  title: string;
  text?: string;
  fields?: ReplyField[];
  chart?: ReplyChart;
  buttons?: ReplyButton[];
  /** Footer line: data time, method, reference. */
  footer?: string;
  /** Only the invoking user sees it (errors, usage). */
  ephemeral?: boolean;
  /** Colour hint: error replies are red, alerts orange. */
  tone?: 'info' | 'success' | 'warning' | 'error';
}
