import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, errorMessage, request, toApiError } from '../http';

afterEach(() => vi.unstubAllGlobals());

describe('errors shown to people', () => {
  it("uses the server's user-safe message and keeps code and correlation id", async () => {
    const res = new Response(JSON.stringify({ error: { code: 'INVALID_INPUT', message: 'The address must start with rtsp:// or rtsps://.', severity: 'WARNING', correlationId: 'c-1' } }), { status: 400 });
    const e = await toApiError(res);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.message).toBe('The address must start with rtsp:// or rtsps://.');
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.correlationId).toBe('c-1');
    expect(e.retryable).toBe(false);
  });

  it('never shows a raw body: HTML or JSON without the error shape gets a sentence', async () => {
    const html = await toApiError(new Response('<html>Traceback (most recent call last)…</html>', { status: 500 }));
    expect(html.message).not.toMatch(/Traceback|html/);
    expect(html.retryable).toBe(true);
    const odd = await toApiError(new Response(JSON.stringify({ detail: [{ loc: ['body'], msg: 'x' }] }), { status: 422 }));
    expect(odd.message).toBe('The request is not valid.');
  });

  it('a network failure reads as such', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    const err = await request('/api/cameras', { auth: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(0);
    expect(errorMessage(err)).toMatch(/Cannot reach/);
    expect(errorMessage(new Error('internal detail'))).toBe('Something went wrong. Please try again.');
  });
});
