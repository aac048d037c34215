import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../backoff';
import { RealtimeClient, type RefreshOutcome } from '../client';
import { RealtimeStore } from '../store';
import { FakeSocket } from './fakeSocket';

/** Flush microtasks (the client awaits getToken before opening a socket). */
async function tick(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function setup(over: Partial<ConstructorParameters<typeof RealtimeClient>[0]> = {}) {
  const frames: (() => void)[] = [];
  const store = new RealtimeStore({ requestFrame: (cb) => frames.push(cb), storage: null });
  const flushFrames = () => {
    while (frames.length) frames.shift()!();
  };
  let token = 'token-1';
  const refreshToken = vi.fn(async (): Promise<RefreshOutcome> => {
    token = `token-${Number(token.split('-')[1]) + 1}`;
    return 'ok';
  });
  const onSignedOut = vi.fn();
  const client = new RealtimeClient({
    store,
    url: 'ws://test/ws',
    getToken: () => token,
    refreshToken,
    onSignedOut,
    createSocket: (url) => new FakeSocket(url),
    random: () => 0.5,
    pingIntervalMs: 20_000,
    isOnline: () => true,
    ...over,
  });
  return { store, client, flushFrames, refreshToken, onSignedOut, getToken: () => token };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('grows exponentially, is capped, and jitters within [d/2, d]', () => {
    const o = DEFAULT_BACKOFF;
    expect(backoffDelay(0, o, () => 1)).toBe(500);
    expect(backoffDelay(1, o, () => 1)).toBe(1000);
    expect(backoffDelay(3, o, () => 1)).toBe(4000);
    expect(backoffDelay(20, o, () => 1)).toBe(30_000);
    expect(backoffDelay(3, o, () => 0)).toBe(2000);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(4, o);
      expect(d).toBeGreaterThanOrEqual(4000);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });
});

describe('RealtimeClient', () => {
  it('authenticates first, subscribes after auth-ok and reports connected', async () => {
    const { client, store, flushFrames } = setup();
    client.start();
    await tick();
    expect(FakeSocket.instances).toHaveLength(1);
    const ws = FakeSocket.last();
    expect(ws.url).toBe('ws://test/ws');
    ws.open();
    expect(ws.sent).toEqual([{ type: 'auth', token: 'token-1' }]);
    ws.receive({ type: 'auth-ok' });
    expect(ws.sent[1]).toEqual({ type: 'subscribe', topics: ['cameras', 'alerts', 'health', 'stats', 'streams', 'nvrs'] });
    flushFrames();
    expect(store.getState().connection).toBe('connecting');
    ws.receive({ type: 'subscribed' });
    flushFrames();
    expect(store.getState().connection).toBe('connected');
  });

  it('answers ping with pong', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeSocket.last();
    ws.handshake();
    ws.receive({ type: 'ping', ts: 123 });
    expect(ws.sentOfType('pong')).toEqual([{ type: 'pong', ts: 123 }]);
  });

  it('reconnects with exponential backoff and resets it after a successful connect', async () => {
    const { client, store, flushFrames } = setup();
    client.start();
    await tick();
    FakeSocket.last().handshake();

    // With random() = 0.5 and jitter 0.5, delays are 0.75 × 500·2^n: 375, 750, 1500, 3000 ms.
    const expected = [375, 750, 1500, 3000];
    for (const [i, delay] of expected.entries()) {
      FakeSocket.last().serverClose(1006);
      flushFrames();
      expect(store.getState().connection).toBe(i < 3 ? 'reconnecting' : 'offline');
      expect(store.getState().reconnectAttempt).toBe(i + 1);
      const before = FakeSocket.instances.length;
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(FakeSocket.instances.length).toBe(before);
      await vi.advanceTimersByTimeAsync(1);
      await tick();
      expect(FakeSocket.instances.length).toBe(before + 1);
    }
    FakeSocket.last().handshake();
    flushFrames();
    expect(store.getState().connection).toBe('connected');

    // The next failure starts again from the first delay.
    FakeSocket.last().serverClose(1006);
    const before = FakeSocket.instances.length;
    await vi.advanceTimersByTimeAsync(375);
    await tick();
    expect(FakeSocket.instances.length).toBe(before + 1);
  });

  it('caps the delay and reads offline after several failures', async () => {
    const { client, store, flushFrames } = setup({ offlineAfterAttempts: 3 });
    client.start();
    await tick();
    for (let i = 0; i < 12; i++) {
      FakeSocket.last().serverClose(1006);
      await vi.advanceTimersByTimeAsync(30_000);
      await tick();
    }
    flushFrames();
    expect(store.getState().connection).toBe('offline');
    // 13 sockets: the first and one per failure; each wait ≤ 30 s (cap).
    expect(FakeSocket.instances).toHaveLength(13);
  });

  it('drops a silent connection after 2 × the ping interval and reconnects', async () => {
    const { client, store, flushFrames } = setup();
    client.start();
    await tick();
    const ws = FakeSocket.last();
    ws.handshake();
    // Pings keep it alive.
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(20_000);
      ws.receive({ type: 'ping' });
    }
    expect(ws.closedWith).toBeNull();
    // Then silence: no close event ever comes (half-open TCP).
    await vi.advanceTimersByTimeAsync(40_000 + 5_000);
    expect(ws.closedWith?.code).toBe(4000);
    flushFrames();
    expect(store.getState().connection).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(375);
    await tick();
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('sends the last alert id it saw when it reconnects (replay)', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeSocket.last();
    ws.handshake();
    ws.receive({ type: 'face-detection-alert', id: 'a-1', cameraId: 'c', severity: 'medium', message: 'Face', createdAt: '2030-01-01T00:00:01Z' });
    ws.receive({ type: 'face-detection-alert', id: 'a-2', cameraId: 'c', severity: 'medium', message: 'Face', createdAt: '2030-01-01T00:00:02Z' });
    ws.serverClose(1006);
    await vi.advanceTimersByTimeAsync(375);
    await tick();
    const ws2 = FakeSocket.last();
    expect(ws2).not.toBe(ws);
    ws2.open();
    expect(ws2.sent[0]).toEqual({ type: 'auth', token: 'token-1', lastAlertId: 'a-2' });
  });

  it('replayed alerts are merged without duplicates and a reconnect asks for a resync', async () => {
    const { client, store, flushFrames } = setup();
    client.start();
    await tick();
    const a1 = { type: 'face-detection-alert', id: 'a-1', cameraId: 'c', severity: 'medium', message: 'Face', createdAt: '2030-01-01T00:00:01Z' };
    FakeSocket.last().handshake();
    FakeSocket.last().receive(a1);
    flushFrames();
    const version = store.getState().cameraListVersion;
    FakeSocket.last().serverClose(1006);
    await vi.advanceTimersByTimeAsync(375);
    await tick();
    const ws2 = FakeSocket.last();
    ws2.handshake();
    ws2.receive(a1); // the hub may resend the boundary alert
    ws2.receive({ ...a1, id: 'a-2', createdAt: '2030-01-01T00:00:05Z' });
    flushFrames();
    expect(store.getState().alerts.map((a) => a.id)).toEqual(['a-2', 'a-1']);
    expect(store.getState().cameraListVersion).toBe(version + 1);
  });

  it('on close 4401 refreshes the token and reconnects at once with the new one', async () => {
    const { client, refreshToken } = setup();
    client.start();
    await tick();
    FakeSocket.last().handshake();
    FakeSocket.last().serverClose(4401, 'token expired');
    await tick();
    expect(refreshToken).toHaveBeenCalledTimes(1);
    await tick();
    expect(FakeSocket.instances).toHaveLength(2);
    FakeSocket.last().open();
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: 'token-2' });
  });

  it('after a sign-out, the next session refreshes its token on 4401 again', async () => {
    const { client, refreshToken } = setup();
    client.start();
    for (let i = 0; i < 2; i++) {
      await tick();
      FakeSocket.last().open();
      FakeSocket.last().serverClose(4401); // refused before auth-ok, twice in a row
      await tick();
    }
    expect(refreshToken).toHaveBeenCalledTimes(2);
    client.reset(); // sign-out, then another sign-in
    client.start();
    await tick();
    FakeSocket.last().open();
    FakeSocket.last().serverClose(4401);
    await tick();
    expect(refreshToken).toHaveBeenCalledTimes(3);
  });

  it('signs out when the refresh token is refused', async () => {
    const { client, onSignedOut, store, flushFrames } = setup({ refreshToken: async () => 'signed-out' as const });
    client.start();
    await tick();
    FakeSocket.last().handshake();
    FakeSocket.last().serverClose(4401);
    await tick();
    expect(onSignedOut).toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.instances).toHaveLength(1);
    flushFrames();
    expect(store.getState().connection).toBe('idle');
  });

  it('gives up a handshake that never completes', async () => {
    const { client } = setup({ handshakeTimeoutMs: 10_000 });
    client.start();
    await tick();
    const ws = FakeSocket.last();
    ws.open(); // but no auth-ok ever
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ws.closedWith?.code).toBe(4000);
    await vi.advanceTimersByTimeAsync(375);
    await tick();
    expect(FakeSocket.instances).toHaveLength(2);
  });

  it('stop() closes the socket and does not reconnect', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeSocket.last();
    ws.handshake();
    client.stop();
    expect(ws.closedWith?.code).toBe(1000);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('keeps a single socket when start() is called twice', async () => {
    const { client } = setup();
    client.start();
    client.start();
    await tick();
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('onConnected listeners run on every (re)connect, e.g. to flush the offline queue', async () => {
    const { client } = setup();
    const seen = vi.fn();
    client.onConnected(seen);
    client.start();
    await tick();
    FakeSocket.last().handshake();
    FakeSocket.last().serverClose(1006);
    await vi.advanceTimersByTimeAsync(375);
    await tick();
    FakeSocket.last().handshake();
    expect(seen).toHaveBeenCalledTimes(2);
  });
});

describe('RealtimeClient heartbeat interval', () => {
  it("follows the hub's pingInterval from auth-ok", async () => {
    const { client } = setup({ pingIntervalMs: 20_000 });
    client.start();
    await tick();
    const ws = FakeSocket.last();
    ws.open();
    ws.receive({ type: 'auth-ok', pingInterval: 2 });
    ws.receive({ type: 'subscribed' });
    await vi.advanceTimersByTimeAsync(9_000); // well below the default 40 s limit
    expect(ws.closedWith?.code).toBe(4000);
  });
});
