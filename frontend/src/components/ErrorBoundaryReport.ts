/**
 * Reporting of crashes caught by an error boundary: always to the console, and once per
 * distinct crash to `POST /api/client-errors`, which logs it under a correlation id and
 * answers with it (the "error id" the fallback shows for support). Nothing is stored.
 *
 * Only signed-in sessions report (the endpoint refuses anonymous callers). Identical
 * reports (same message, stacks and route) are sent once per page load and share the id;
 * at most MAX_REPORTS distinct ones are sent, so a crash loop cannot flood the server.
 */
import { request } from '../api/http';
import type * as G from '../api/generated/types.gen';
import { tokens } from '../auth/tokens';

/** Field limits, below the server's (it refuses longer values rather than cutting them). */
export const LIMITS = { message: 1000, stack: 4000, componentStack: 4000, route: 2048, userAgent: 512 } as const;
export const MAX_REPORTS = 20;
const ENDPOINT = '/api/client-errors';

const sent = new Map<string, Promise<string | null>>();

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function describe(error: unknown): { message: string; stack: string | null } {
  if (error instanceof Error) return { message: error.message || error.name || 'Error', stack: error.stack ?? null };
  try {
    return { message: typeof error === 'string' ? error : JSON.stringify(error) ?? String(error), stack: null };
  } catch {
    return { message: String(error), stack: null };
  }
}

/** The body sent for `error` (exported for tests): truncated to {@link LIMITS}. */
export function buildReport(error: unknown, componentStack: string | null | undefined, now: Date = new Date()): G.ClientErrorReport {
  const { message, stack } = describe(error);
  return {
    message: cut(message.trim() || 'Error', LIMITS.message),
    stack: stack ? cut(stack, LIMITS.stack) : null,
    componentStack: componentStack ? cut(componentStack, LIMITS.componentStack) : null,
    route: cut(`${window.location.pathname}${window.location.search}`, LIMITS.route),
    userAgent: cut(navigator.userAgent, LIMITS.userAgent),
    occurredAt: now.toISOString(),
  };
}

/**
 * Log `error` to the console and report it to the server (once per distinct crash).
 * Resolves with the server's correlation id, or null when not reported (signed out, over
 * MAX_REPORTS, or the request failed). Never rejects.
 */
export function reportClientError(error: unknown, componentStack?: string | null): Promise<string | null> {
  console.error('[beholder] a part of the page crashed:', error, componentStack ?? '');
  const body = buildReport(error, componentStack);
  const key = JSON.stringify([body.message, body.stack, body.componentStack, body.route]);
  const known = sent.get(key);
  if (known) return known;
  if (!tokens.get() || sent.size >= MAX_REPORTS) return Promise.resolve(null);
  const p = request<G.ClientErrorAccepted>(ENDPOINT, { method: 'POST', json: body }).then(
    (r) => r.correlationId,
    () => null,
  );
  sent.set(key, p);
  return p;
}

/** Forget what was sent (tests). */
export function resetClientErrorReports(): void {
  sent.clear();
}
