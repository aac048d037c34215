/**
 * MJPEG over fetch (so the request carries the Authorization header, which an <img src>
 * cannot): reads the multipart/x-mixed-replace body and hands each JPEG to `onFrame`.
 */
import { fetchWithAuth, toApiError } from '../api/http';

export function boundaryOf(contentType: string | null): string | null {
  const m = /boundary="?([^";]+)"?/i.exec(contentType ?? '');
  return m?.[1] ?? null;
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);
const te = new TextEncoder();
const td = new TextDecoder();

/** Incremental multipart parser: push chunks, get complete part bodies back. */
export class MultipartParser {
  private buf = new Uint8Array(0);
  private readonly delim: Uint8Array;

  constructor(boundary: string) {
    this.delim = te.encode(`--${boundary.replace(/^--/, '')}`);
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf);
    merged.set(chunk, this.buf.length);
    this.buf = merged;
    const parts: Uint8Array[] = [];
    for (;;) {
      const start = indexOf(this.buf, this.delim, 0);
      if (start < 0) break;
      const headEnd = indexOf(this.buf, CRLFCRLF, start + this.delim.length);
      if (headEnd < 0) break;
      const headers = td.decode(this.buf.subarray(start + this.delim.length, headEnd));
      const bodyStart = headEnd + 4;
      const len = /content-length:\s*(\d+)/i.exec(headers);
      let bodyEnd: number;
      if (len) {
        bodyEnd = bodyStart + Number(len[1]);
        if (bodyEnd > this.buf.length) break;
      } else {
        const next = indexOf(this.buf, this.delim, bodyStart);
        if (next < 0) break;
        bodyEnd = next;
        while (bodyEnd > bodyStart && (this.buf[bodyEnd - 1] === 10 || this.buf[bodyEnd - 1] === 13)) bodyEnd--;
      }
      parts.push(this.buf.slice(bodyStart, bodyEnd));
      this.buf = this.buf.slice(bodyEnd);
    }
    if (this.buf.length > 8 * 1024 * 1024) this.buf = new Uint8Array(0); // runaway guard
    return parts;
  }
}

/** Play an MJPEG endpoint until `signal` aborts; resolves when the stream ends. */
export async function playMjpeg(path: string, onFrame: (jpeg: Blob) => void, signal: AbortSignal): Promise<void> {
  const res = await fetchWithAuth(path, { headers: { Accept: 'multipart/x-mixed-replace, image/jpeg' }, signal });
  if (!res.ok) throw await toApiError(res);
  const ct = res.headers.get('Content-Type');
  if (ct?.startsWith('image/')) {
    onFrame(await res.blob());
    return;
  }
  const boundary = boundaryOf(ct);
  if (!boundary || !res.body) throw new Error('Not an MJPEG stream.');
  const parser = new MultipartParser(boundary);
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      const parts = parser.push(value);
      const last = parts.at(-1);
      if (last && last.length) onFrame(new Blob([last as BlobPart], { type: 'image/jpeg' }));
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
