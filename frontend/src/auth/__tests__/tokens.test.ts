import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenStore } from '../tokens';

const KEY = 'beholder.session';

function memoryStorage(init: Record<string, string> = {}): Storage {
  const m = new Map(Object.entries(init));
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, String(v)),
  };
}

function pair(n: number, expiresIn = 900) {
  return { accessToken: `a${n}`, refreshToken: `r${n}`, expiresIn, tokenType: 'bearer' as const };
}

let now = 1_000_000;
beforeEach(() => {
  now = 1_000_000;
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

function store(opts: { storage?: Storage; fetchImpl?: typeof fetch } = {}) {
  return new TokenStore({ storage: opts.storage ?? memoryStorage(), fetchImpl: opts.fetchImpl ?? (vi.fn() as unknown as typeof fetch), now: () => now });
}

function answer(status: number, body: unknown) {
  return vi.fn(async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch & ReturnType<typeof vi.fn>;
}

describe('token storage', () => {
  it('keeps a signed-in session in storage with its expiry, tells listeners, and forgets it on sign-out', () => {
    const storage = memoryStorage();
    const t = store({ storage });
    const seen = vi.fn();
    const off = t.subscribe(seen);
    expect(t.get()).toBeNull();
    t.set(pair(1, 600));
    expect(t.get()).toEqual({ accessToken: 'a1', refreshToken: 'r1', expiresAt: now + 600_000 });
    expect(t.accessToken).toBe('a1');
    expect(JSON.parse(storage.getItem(KEY)!)).toEqual({ accessToken: 'a1', refreshToken: 'r1', expiresAt: now + 600_000 });
    t.clear();
    expect(t.get()).toBeNull();
    expect(t.accessToken).toBeNull();
    expect(storage.getItem(KEY)).toBeNull();
    expect(seen).toHaveBeenCalledTimes(2);
    t.clear(); // already signed out: nothing to tell
    expect(seen).toHaveBeenCalledTimes(2);
    off();
    t.set(pair(2));
    expect(seen).toHaveBeenCalledTimes(2);
  });

  it('restores the session of an earlier visit and treats a corrupt entry as signed out', () => {
    const saved = { accessToken: 'a9', refreshToken: 'r9', expiresAt: now + 60_000 };
    expect(store({ storage: memoryStorage({ [KEY]: JSON.stringify(saved) }) }).get()).toEqual(saved);
    expect(store({ storage: memoryStorage({ [KEY]: '{not json' }) }).get()).toBeNull();
    expect(store({ storage: memoryStorage({ [KEY]: JSON.stringify({ accessToken: 'a' }) }) }).get()).toBeNull();
  });

  it('still works in memory when storage throws (private mode)', () => {
    const broken = memoryStorage();
    broken.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    const t = store({ storage: broken });
    t.set(pair(1));
    expect(t.accessToken).toBe('a1');
  });

  it('follows a sign-in or sign-out made in another tab', () => {
    const storage = memoryStorage();
    const t = store({ storage });
    const seen = vi.fn();
    t.subscribe(seen);
    storage.setItem(KEY, JSON.stringify({ accessToken: 'other', refreshToken: 'ro', expiresAt: now + 60_000 }));
    window.dispatchEvent(new StorageEvent('storage', { key: KEY }));
    expect(t.accessToken).toBe('other');
    window.dispatchEvent(new StorageEvent('storage', { key: 'unrelated' }));
    storage.removeItem(KEY);
    window.dispatchEvent(new StorageEvent('storage', { key: KEY }));
    expect(t.get()).toBeNull();
    expect(seen).toHaveBeenCalledTimes(2);
  });
});

describe('token refresh', () => {
  it('hands out a valid access token as is and refreshes one about to expire first', async () => {
    const f = answer(200, pair(2));
    const t = store({ fetchImpl: f });
    expect(await t.fresh()).toBeNull(); // signed out: no token, no request
    t.set(pair(1, 600));
    expect(await t.fresh()).toBe('a1');
    expect(f).not.toHaveBeenCalled();
    now += 590_000; // 10 s left, under the 15 s margin
    expect(await t.fresh()).toBe('a2');
    expect(f).toHaveBeenCalledTimes(1);
    const [url, init] = f.mock.calls[0] as [string, RequestInit];
    expect(url).toBe('/api/auth/refresh');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({ refreshToken: 'r1' });
    expect(t.get()?.refreshToken).toBe('r2');
  });

  it('sends one refresh for concurrent callers', async () => {
    let release!: (r: Response) => void;
    const f = vi.fn(() => new Promise<Response>((r) => (release = r)));
    const t = store({ fetchImpl: f as unknown as typeof fetch });
    t.set(pair(1));
    const a = t.refresh();
    const b = t.refresh();
    await vi.waitFor(() => expect(f).toHaveBeenCalledTimes(1));
    release(new Response(JSON.stringify(pair(2))));
    expect(await a).toBe('ok');
    expect(await b).toBe('ok');
    expect(f).toHaveBeenCalledTimes(1);
    expect(t.accessToken).toBe('a2');
  });

  it('signs out when the server refuses the refresh token', async () => {
    const storage = memoryStorage();
    const t = store({ storage, fetchImpl: answer(401, { error: { code: 'TOKEN_INVALID', message: 'Sign in again.' } }) });
    t.set(pair(1));
    expect(await t.refresh()).toBe('signed-out');
    expect(t.get()).toBeNull();
    expect(storage.getItem(KEY)).toBeNull();
  });

  it('keeps the session when the server is unreachable, busy or answers garbage, and retries later', async () => {
    const offline = vi.fn(async () => Promise.reject(new TypeError('Failed to fetch')));
    const t = store({ fetchImpl: offline as unknown as typeof fetch });
    t.set(pair(1));
    expect(await t.refresh()).toBe('unreachable');
    expect(t.accessToken).toBe('a1');
    // The retry comes 5 s later by itself.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(offline).toHaveBeenCalledTimes(2);

    const busy = store({ fetchImpl: answer(503, { error: { code: 'UNAVAILABLE', message: 'Busy' } }) });
    busy.set(pair(1));
    expect(await busy.refresh()).toBe('unreachable');
    expect(busy.accessToken).toBe('a1');

    const garbage = store({ fetchImpl: vi.fn(async () => new Response('<html>', { status: 200 })) as unknown as typeof fetch });
    garbage.set(pair(1));
    expect(await garbage.refresh()).toBe('unreachable');
    expect(garbage.accessToken).toBe('a1');
  });

  it('takes the tokens another tab refreshed instead of spending its own refresh token', async () => {
    const storage = memoryStorage();
    const f = answer(200, pair(3));
    const t = store({ storage, fetchImpl: f });
    t.set(pair(1));
    storage.setItem(KEY, JSON.stringify({ accessToken: 'a2', refreshToken: 'r2', expiresAt: now + 600_000 }));
    expect(await t.refresh()).toBe('ok');
    expect(t.accessToken).toBe('a2');
    expect(f).not.toHaveBeenCalled();
  });

  it('refreshes in the background shortly before the access token expires', async () => {
    const f = answer(200, pair(2));
    const t = store({ fetchImpl: f });
    t.set(pair(1, 600)); // 10 min: refreshed 1 min before
    await vi.advanceTimersByTimeAsync(530_000);
    expect(f).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(11_000);
    expect(f).toHaveBeenCalledTimes(1);
    expect(t.accessToken).toBe('a2');
    t.clear(); // no timer left for a signed-out store
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(f).toHaveBeenCalledTimes(1);
  });
});
