/**
 * Number and time formatting shared by the commands, so every platform shows the same figures.
 */

/** toLocaleString with options builds a formatter on every call; one per precision is kept instead. */
const formatters = new Map<number, Intl.NumberFormat>();

/** Six significant digits with thousands separators; small numbers keep their significant digits. */
export function num(value: number | null | undefined, digits = 6): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e15 || abs < 1e-6) return value.toExponential(Math.max(0, digits - 3));
  let format = formatters.get(digits);
  if (!format) {
    format = new Intl.NumberFormat('en-US', { maximumSignificantDigits: digits });
    formatters.set(digits, format);
  }
  return format.format(value);
}

/** A fraction as a percentage: 0.01234 -> 1.23%. */
export function pctOfFraction(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return `${num(value * 100, digits)}%`;
}

/** A percentage with its sign: 2.5 -> +2.50%. */
export function signedPct(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return `${value > 0 ? '+' : ''}${value.toFixed(2)}%`;
}

export function signed(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return `${value > 0 ? '+' : ''}${num(value)}`;
}

/** `2026-01-01 12:34 UTC`: chat users sit in many time zones, so one stated zone. */
export function utc(ts: Date | string | number | null | undefined): string {
  if (ts === null || ts === undefined) return 'never';
  const d = ts instanceof Date ? ts : new Date(ts);
  if (Number.isNaN(d.getTime())) return 'never';
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** `3 min ago`, `2 h ago`: how fresh the data is. */
export function ago(ts: Date | null | undefined, now: Date): string {
  if (!ts) return 'no data';
  const s = Math.round((now.getTime() - ts.getTime()) / 1000);
  if (s < 90) return `${Math.max(0, s)} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}
