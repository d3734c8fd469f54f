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
