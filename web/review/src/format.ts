export function time(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** LABEL_UNREADABLE → "Label unreadable". */
export function words(code: string): string {
  const s = code.toLowerCase().replace(/_/g, ' ').replace(/\bai\b/g, 'AI');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** 5.04 → "5.0 s". */
export function seconds(s: number): string {
  return `${s.toFixed(1)} s`;
}

/** A file size: "830 KB", "12.4 MB". */
export function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${Math.round(n / 1e3)} KB`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
}

/** How long ago iso was, from now (ms): "just now", "12 min", "3 h", "2 d". */
export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return '';
  const m = Math.floor((now - new Date(iso).getTime()) / 60_000);
  if (m < 1) return 'just now';
  if (m < 60) return `${m} min ago`;
  if (m < 48 * 60) return `${Math.floor(m / 60)} h ago`;
  return `${Math.floor(m / 1440)} d ago`;
}
