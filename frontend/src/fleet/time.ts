/**
 * Cheap time texts for rows rendered by the hundred (a scroll through 500 NVRs must not
 * build a date formatter per cell): one cached Intl formatter, and a short "ago".
 */
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function absoluteText(iso: string | null | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : absolute.format(t);
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago" (future times: "just now"). */
export function agoText(iso: string | null | undefined, now: number): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.floor((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}
