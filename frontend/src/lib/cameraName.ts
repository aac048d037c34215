/** Parse the host out of an RTSP URL (URL() handles rtsp:// in browsers and jsdom). */
export function rtspHost(url: string): string | null {
  const s = url.trim();
  try {
    const u = new URL(s);
    if (u.hostname) return u.hostname.replace(/^\[|\]$/g, '');
  } catch {
    /* fall through */
  }
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/?#]+)/i.exec(s);
  return m?.[1]?.replace(/^\[|\]$/g, '') ?? null;
}

/** A camera name from the URL's host, unique among `taken` ("10.0.0.5", "10.0.0.5 (2)", …). */
export function nameFromUrl(url: string, taken: Iterable<string>): string {
  const host = rtspHost(url);
  let path = '';
  try {
    path = new URL(url.trim()).pathname.replace(/^\/+|\/+$/g, '');
  } catch {
    /* ignore */
  }
  const base = (host ?? 'Camera') + (path && path.length <= 24 ? ` ${path}` : '');
  const names = new Set([...taken].map((n) => n.toLowerCase()));
  if (!names.has(base.toLowerCase())) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base} (${i})`;
    if (!names.has(candidate.toLowerCase())) return candidate;
  }
}

/** A first, local check so that obvious typos get an answer before a round trip. */
export function quickRtspCheck(url: string): string | null {
  const s = url.trim();
  if (!s) return "Paste the camera's RTSP address, e.g. rtsp://192.168.1.20:554/stream1.";
  if (!/^rtsps?:\/\//i.test(s)) return 'The address must start with rtsp:// or rtsps://.';
  if (!rtspHost(s)) return 'The RTSP address has no host, e.g. rtsp://192.168.1.20/stream1.';
  return null;
}
