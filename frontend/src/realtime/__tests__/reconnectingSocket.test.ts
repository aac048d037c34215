import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ReconnectingSocket, parseMessage, type CloseAction, type ReconnectingSocketOptions, type RefreshOutcome, type SocketProtocol } from '../reconnectingSocket';
import { FakeSocket } from './fakeSocket';

/** Flush microtasks (connect awaits the token, a refusal awaits the refresh). */
async function tick(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** A protocol that records what the socket tells it; `ready` and `onClose` are the test's to set. */
function recorder() {
  const events: string[] = [];
  let ready = false;
  let generation = -1;
  const control = { onClose: 'reconnect' as CloseAction };
  const protocol: SocketProtocol = {
    connecting: () => events.push('connecting'),
    authenticate: (token) => events.push(`authenticate ${token}`),
    message: (data, gen) => {
      generation = gen;
      events.push(`message ${String(data)}`);
    },
    isReady: () => ready,
    closed: (code, reason) => (events.push(`closed ${code} ${reason}`), control.onClose),
    reconnecting: (attempt, at) => events.push(`reconnecting ${attempt} ${at}`),
    signedOut: () => events.push('signed out'),
  };
  return { events, protocol, control, setReady: (v: boolean) => (ready = v), lastGeneration: () => generation };
}

function setup(over: Partial<ReconnectingSocketOptions<FakeSocket>> = {}) {
  const r = recorder();
  const refreshToken = vi.fn(async (): Promise<RefreshOutcome> => 'ok');
  const socket = new ReconnectingSocket<FakeSocket>(
    {
      url: 'ws://test/ws',
      createSocket: (url) => new FakeSocket(url),
      getToken: () => 'token-1',
      refreshToken,
      pingIntervalMs: 20_000,
      handshakeTimeoutMs: 10_000,
      silentIntervals: 2,
      random: () => 1,
      ...over,
    },
    r.protocol,
  );
  return { socket, refreshToken, ...r };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  FakeSocket.reset();
});
afterEach(() => vi.useRealTimers());

describe('ReconnectingSocket', () => {
  it('connects with the token, authenticates on open and passes messages on', async () => {
    const { socket, events } = setup({ url: () => 'ws://test/fn' });
    expect(socket.running).toBe(false);
    socket.start();
    expect(socket.running).toBe(true);
    await tick();
    const ws = FakeSocket.last();
    expect(ws.url).toBe('ws://test/fn');
    expect(socket.connects).toBe(1);
    expect(socket.openSocket).toBeNull();
    socket.sendJson({ type: 'early' }); // not open yet: dropped
    ws.open();
    expect(socket.openSocket).toBe(ws);
    socket.sendJson({ type: 'hello' });
    expect(ws.sent).toEqual([{ type: 'hello' }]);
    ws.onmessage?.({ data: 'x' } as MessageEvent);
    expect(events).toEqual(['connecting', 'authenticate token-1', 'message x']);
  });

  it('backs off with the default backoff after a close, and markReady() ends the failure streak', async () => {
    const { socket, events } = setup();
    socket.start();
    await tick();
    FakeSocket.last().serverClose(1006, 'gone');
    // random() = 1: the full delay, 500 ms, then 1000 ms.
    expect(events.slice(-2)).toEqual(['closed 1006 gone', 'reconnecting 1 1000500']);
    expect(socket.attempt).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.instances).toHaveLength(2);
    FakeSocket.last().serverClose(1006);
    expect(events.at(-1)).toBe(`reconnecting 2 ${Date.now() + 1000}`);
    await vi.advanceTimersByTimeAsync(1000);
    FakeSocket.last().open();
    socket.markReady();
    expect(socket.attempt).toBe(0);
  });

  it('a close the protocol calls final does nothing more', async () => {
    const { socket, events, control } = setup();
    control.onClose = 'stopped';
    socket.start();
    await tick();
    FakeSocket.last().serverClose(4404);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events).toEqual(['connecting', 'closed 4404 ']);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('is signed out when there is no token or asking for it fails', async () => {
    for (const getToken of [() => null, () => Promise.reject(new Error('storage'))]) {
      const { socket, events } = setup({ getToken });
      socket.start();
      await tick();
      expect(events).toEqual(['connecting', 'signed out']);
      expect(socket.running).toBe(false);
    }
    expect(FakeSocket.instances).toHaveLength(0);
  });

  it('backs off when the socket cannot even be made', async () => {
    let fail = true;
    const { socket, events } = setup({
      createSocket: (url) => {
        if (fail) throw new SyntaxError('bad url');
        return new FakeSocket(url);
      },
    });
    socket.start();
    await tick();
    expect(events).toEqual(['connecting', 'reconnecting 1 1000500']);
    fail = false;
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('refreshes a refused token twice in a streak, then backs off; forgetTokenRefreshes() starts a new streak', async () => {
    const { socket, refreshToken, events, control } = setup();
    control.onClose = 'refresh-token';
    socket.start();
    await tick();
    FakeSocket.last().serverClose(4401);
    await tick();
    FakeSocket.last().serverClose(4401);
    await tick();
    expect(refreshToken).toHaveBeenCalledTimes(2);
    expect(FakeSocket.instances).toHaveLength(3);
    FakeSocket.last().serverClose(4401);
    await tick();
    expect(refreshToken).toHaveBeenCalledTimes(2);
    expect(events.at(-1)).toMatch(/^reconnecting 1 /);

    socket.forgetTokenRefreshes();
    await vi.advanceTimersByTimeAsync(500);
    FakeSocket.last().serverClose(4401);
    await tick();
    expect(refreshToken).toHaveBeenCalledTimes(3);
  });

  it('follows what the refresh says: unreachable backs off, signed out stops', async () => {
    const outcome: { v: RefreshOutcome } = { v: 'unreachable' };
    const { socket, events, control } = setup({ refreshToken: async () => outcome.v });
    control.onClose = 'refresh-token';
    socket.start();
    await tick();
    FakeSocket.last().serverClose(4401);
    await tick();
    expect(events.at(-1)).toMatch(/^reconnecting 1 /);
    await vi.advanceTimersByTimeAsync(500);
    outcome.v = 'signed-out';
    FakeSocket.last().serverClose(4401);
    await tick();
    expect(events.at(-1)).toBe('signed out');
    expect(socket.running).toBe(false);
  });

  it('ignores a refresh that comes back after stop()', async () => {
    let answer: (o: RefreshOutcome) => void = () => undefined;
    const { socket, events, control } = setup({ refreshToken: () => new Promise<RefreshOutcome>((r) => (answer = r)) });
    control.onClose = 'refresh-token';
    socket.start();
    await tick();
    FakeSocket.last().serverClose(4401);
    socket.stop();
    answer('ok');
    await tick();
    expect(FakeSocket.instances).toHaveLength(1);
    expect(events.at(-1)).toBe('closed 4401 ');
  });

  it('drops a socket whose handshake does not complete in time, but not a ready one', async () => {
    const { socket, setReady } = setup({ handshakeTimeoutMs: 1_000 });
    socket.start();
    await tick();
    const first = FakeSocket.last();
    first.open();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(first.closedWith).toEqual({ code: 4000, reason: 'handshake timeout' });
    await vi.advanceTimersByTimeAsync(500);
    const second = FakeSocket.last();
    second.open();
    setReady(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(second.closedWith).toBeNull();
  });

  it("drops a silent socket after `silentIntervals` ping intervals, following the server's interval", async () => {
    const { socket } = setup({ silentIntervals: 2.5 });
    socket.start();
    await tick();
    const ws = FakeSocket.last();
    ws.open();
    socket.markReady();
    socket.setPingInterval(0); // ignored
    socket.setPingInterval('2'); // ignored
    socket.setPingInterval(2); // 2 s: dead after 5 s of silence, checked every 500 ms
    await vi.advanceTimersByTimeAsync(4_000);
    ws.onmessage?.({ data: 'ping' } as MessageEvent);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ws.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(500);
    expect(ws.closedWith).toEqual({ code: 4000, reason: 'heartbeat timeout' });
  });

  it('reconnectNow() closes the socket there is (4000) and connects at once; stop() closes with its reason', async () => {
    const { socket } = setup();
    socket.start();
    socket.start(); // already running: no second socket
    await tick();
    const first = FakeSocket.last();
    first.open();
    socket.reconnectNow();
    expect(first.closedWith).toEqual({ code: 4000, reason: 'reconnect' });
    await tick();
    expect(FakeSocket.instances).toHaveLength(2);
    const second = FakeSocket.last();
    second.close = () => {
      throw new Error('already closed');
    };
    expect(() => socket.stop('deleted')).not.toThrow();
    expect(second.onmessage).toBeNull();
    expect(socket.running).toBe(false);
  });

  it('passes the generation with each message, current until the socket changes; start() prepares before connecting', async () => {
    const { socket, events, lastGeneration } = setup();
    socket.start(() => events.push('prepare'));
    expect(events).toEqual(['prepare', 'connecting']);
    await tick();
    FakeSocket.last().open();
    FakeSocket.last().onmessage?.({ data: 'x' } as MessageEvent);
    const gen = lastGeneration();
    expect(socket.isCurrent(gen)).toBe(true);
    socket.reconnectNow();
    expect(socket.isCurrent(gen)).toBe(false);
  });
});

describe('parseMessage', () => {
  it('reads JSON with a string type, and nothing else', () => {
    expect(parseMessage('{"type":"ping","ts":1}')).toEqual({ type: 'ping', ts: 1 });
    for (const text of ['{bad', 'null', '5', '"ping"', '{"type":3}', '{}']) expect(parseMessage(text)).toBeNull();
  });
});
