/**
 * Test helpers for the pages: a fetch stub at the network boundary that records every request
 * and answers through a route handler, JSON/error-shape responses, and a render with the
 * providers a page needs (React Query without retries, a memory router).
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactElement, ReactNode } from 'react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { vi } from 'vitest';

export interface Sent {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  headers: Record<string, string>;
}

export type Handler = (req: Sent) => Response | unknown | Promise<Response | unknown>;

export function json(data: unknown, status = 200): Response {
  return new Response(data === undefined ? null : JSON.stringify(data), { status, headers: { 'Content-Type': 'application/json' } });
}

/** The server's one error shape. */
export function apiError(status: number, code: string, message: string, extra: Record<string, unknown> = {}): Response {
  return json({ error: { code, message, severity: 'WARNING', correlationId: `cid-${code}`, ...extra } }, status);
}

/** Stub global fetch; returns the list of requests sent (in order). Unmatched: 404 in the error shape.
 * A handler may return a Response, a plain value (sent as JSON 200) or undefined (404). */
export function stubFetch(handler: Handler): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, 'http://localhost');
      let body: unknown = undefined;
      if (typeof init.body === 'string') {
        try {
          body = JSON.parse(init.body);
        } catch {
          body = init.body;
        }
      }
      const req: Sent = {
        method: (init.method ?? 'GET').toUpperCase(),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body,
        headers: { ...(init.headers as Record<string, string> | undefined) },
      };
      sent.push(req);
      const out = await handler(req);
      if (out instanceof Response) return out;
      if (out === undefined) return apiError(404, 'NOT_FOUND', 'Not found.');
      return json(out);
    }),
  );
  return sent;
}

/** Requests to one path (and method). */
export function sentTo(sent: readonly Sent[], path: string, method = 'GET'): Sent[] {
  return sent.filter((r) => r.path === path && r.method === method);
}

export function newQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false }, mutations: { retry: false } } });
}

function Where() {
  const l = useLocation();
  return <output data-testid="location">{l.pathname + l.search}</output>;
}

/** Render `ui` at `route` (optionally under a route `path` with params) with a fresh query client.
 * The current location is shown in `[data-testid=location]`. */
export function renderPage(ui: ReactElement, { route = '/', path, client = newQueryClient(), wrap }: { route?: string; path?: string; client?: QueryClient; wrap?: (n: ReactNode) => ReactNode } = {}) {
  const inner = (
    <MemoryRouter initialEntries={[route]}>
      <Where />
      {path ? (
        <Routes>
          <Route path={path} element={ui} />
          <Route path="*" element={<p>elsewhere</p>} />
        </Routes>
      ) : (
        ui
      )}
    </MemoryRouter>
  );
  return { client, ...render(<QueryClientProvider client={client}>{wrap ? wrap(inner) : inner}</QueryClientProvider>) };
}

/** A WebSocket stand-in: records what is sent; the test opens it and pushes messages. */
export class FakeSocket {
  static readonly all: FakeSocket[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readyState = 0;
  bufferedAmount = 0;
  binaryType: BinaryType = 'blob';
  readonly sent: unknown[] = [];
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: unknown): void {
    this.sent.push(typeof data === 'string' ? JSON.parse(data) : data);
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: true } as CloseEvent);
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  receive(msg: unknown): void {
    this.onmessage?.({ data: typeof msg === 'string' || msg instanceof ArrayBuffer ? msg : JSON.stringify(msg) } as MessageEvent);
  }
  /** Messages sent as JSON (parsed), by type. */
  messages(type?: string): Record<string, unknown>[] {
    return this.sent.filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null && !(m instanceof ArrayBuffer) && !ArrayBuffer.isView(m) && (!type || (m as { type?: unknown }).type === type));
  }
}

/** Replace the global WebSocket with FakeSocket (undone by vi.unstubAllGlobals()). */
export function stubWebSocket(): typeof FakeSocket.all {
  FakeSocket.all.length = 0;
  vi.stubGlobal('WebSocket', FakeSocket);
  return FakeSocket.all;
}
