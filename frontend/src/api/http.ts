/**
 * The one fetch wrapper: bearer auth with a single retry after a token refresh, and every
 * failure turned into an ApiError whose `message` is safe to show (the server's
 * error.message, or a plain sentence) — never raw JSON or a stack.
 */
import { tokens } from '../auth/tokens';
import type { ErrorBody } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly severity: string | undefined;
  readonly correlationId: string | undefined;
  /** Parsed body for non-2xx answers that are data too (e.g. /system/ready 503). */
  readonly body: unknown;

  constructor(status: number, code: string, message: string, opts: { severity?: string; correlationId?: string; body?: unknown } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.severity = opts.severity;
    this.correlationId = opts.correlationId;
    this.body = opts.body;
  }

  /** Worth a retry button: network trouble, rate limits, server-side unavailability. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export const OFFLINE_MESSAGE = 'Cannot reach the Beholder server. Check your connection and try again.';

const STATUS_MESSAGES: Record<number, string> = {
  400: 'The request is not valid.',
  401: 'Sign in to continue.',
  403: 'You do not have permission to do this.',
  404: 'Not found.',
  409: 'This conflicts with something that already exists.',
  413: 'The request is too large.',
  422: 'The request is not valid.',
  429: 'Too many requests. Please wait a moment and try again.',
};

/** A sentence for the user, whatever was thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof TypeError) return OFFLINE_MESSAGE;
  return 'Something went wrong. Please try again.';
}

export async function toApiError(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const e = (body as Partial<ErrorBody> | undefined)?.error;
  const message =
    e && typeof e.message === 'string' && e.message.trim()
      ? e.message
      : STATUS_MESSAGES[res.status] ??
        (res.status >= 500 ? 'The service is temporarily unavailable. Please try again shortly.' : 'The request failed.');
  return new ApiError(res.status, typeof e?.code === 'string' ? e.code : `HTTP_${res.status}`, message, {
    ...(e?.severity ? { severity: e.severity } : {}),
    ...(e?.correlationId ? { correlationId: e.correlationId } : {}),
    body,
  });
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  query?: Query;
  auth?: boolean;
  signal?: AbortSignal;
  keepalive?: boolean;
}

/** fetch with auth and one refresh-and-retry on 401. Resolves with any status. */
export async function fetchWithAuth(path: string, opts: RequestOptions = {}): Promise<Response> {
  const { method = 'GET', json, body, headers = {}, query, auth = true, signal, keepalive } = opts;
  const url = withQuery(path, query);
  const send = async (token: string | null): Promise<Response> => {
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    if (json !== undefined) h['Content-Type'] = 'application/json';
    if (auth && token) h.Authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers: h };
    if (json !== undefined) init.body = JSON.stringify(json);
    else if (body !== undefined) init.body = body;
    if (signal) init.signal = signal;
    if (keepalive) init.keepalive = true;
    try {
      return await fetch(url, init);
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'NETWORK_OFFLINE', OFFLINE_MESSAGE);
    }
  };
  let res = await send(auth ? await tokens.fresh() : null);
  if (res.status === 401 && auth && tokens.get()) {
    const r = await tokens.refresh();
    if (r === 'ok') res = await send(tokens.accessToken);
    if (res.status === 401) tokens.clear();
  }
  return res;
}

/** JSON request: resolves with the parsed body (undefined for 204), throws ApiError otherwise. */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await fetchWithAuth(path, opts);
  if (!res.ok) throw await toApiError(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'BAD_RESPONSE', 'The server sent an answer this page cannot read.');
  }
}

/** An authenticated image (or any binary) as a Blob. */
export async function requestBlob(path: string, signal?: AbortSignal): Promise<Blob> {
  const res = await fetchWithAuth(path, { headers: { Accept: 'image/*' }, ...(signal ? { signal } : {}) });
  if (!res.ok) throw await toApiError(res);
  return res.blob();
}
