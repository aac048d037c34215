import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RefreshOutcome } from '../../realtime/client';
import { RelayClient, type RelayClientOptions, type RelaySocketLike } from '../client';
import { encodeFrame } from '../frame';
import type { RelayJoin } from '../protocol';

const STREAM = '0123abcd-4567-89ef-8123-456789abcdef';
const JPEG = new Uint8Array([0xff, 0xd8, 1, 0xff, 0xd9]);

class FakeRelaySocket implements RelaySocketLike {
  static all: FakeRelaySocket[] = [];
  readyState = 0;
  bufferedAmount = 0;
  binaryType: BinaryType = 'blob';
  sent: (string | Uint8Array)[] = [];
  closedWith: { code?: number; reason?: string } | null = null;
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  constructor(public url: string) {
    FakeRelaySocket.all.push(this);
  }
  static last(): FakeRelaySocket {
    const s = FakeRelaySocket.all.at(-1);
    if (!s) throw new Error('no socket');
    return s;
  }
  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    this.sent.push(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer));
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }
  json(): { type: string; [k: string]: unknown }[] {
    return this.sent.filter((s): s is string => typeof s === 'string').map((s) => JSON.parse(s) as { type: string });
  }
  binaries(): Uint8Array[] {
    return this.sent.filter((s): s is Uint8Array => typeof s !== 'string');
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  receive(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent);
  }
  receiveBinary(b: Uint8Array): void {
    this.onmessage?.({ data: b.slice().buffer } as MessageEvent);
  }
  serverClose(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: false } as CloseEvent);
  }
  handshake(join: 'registered' | 'subscribed' = 'registered'): void {
    this.open();
    this.receive({ type: 'auth-ok', principal: { name: 'u', role: 'viewer' }, pingInterval: 30 });
    this.receive(join === 'registered' ? { type: 'registered', streamId: STREAM } : { type: 'subscribed', streamId: STREAM, consumes: ['video', 'alerts'] });
  }
}

async function tick(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

const REGISTER: RelayJoin = { type: 'register', clientType: 'mobile', streamId: STREAM, produces: ['video'], consumes: ['alerts'] };
const SUBSCRIBE: RelayJoin = { type: 'subscribe', clientType: 'dashboard', streamId: STREAM, consumes: ['video', 'alerts'], binary: true };

function setup(over: Partial<RelayClientOptions> = {}) {
  let token: string | null = 'token-1';
  const refreshToken = vi.fn(async (): Promise<RefreshOutcome> => {
    token = `token-${Number(token?.split('-')[1] ?? 0) + 1}`;
    return 'ok';
  });
  const client = new RelayClient({
    join: REGISTER,
    url: 'ws://test/api/streams/ws',
    getToken: () => token,
    refreshToken,
    createSocket: (url) => new FakeRelaySocket(url),
    random: () => 1,
    ...over,
  });
  const states: string[] = [];
  client.subscribe(() => states.push(client.getSnapshot().state));
  return { client, refreshToken, states, signOut: () => (token = null) };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeRelaySocket.all = [];
});
afterEach(() => vi.useRealTimers());

describe('RelayClient', () => {
  it('authenticates first, then registers, then is ready', async () => {
    const { client, states } = setup();
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    expect(ws.url).toBe('ws://test/api/streams/ws');
    expect(ws.binaryType).toBe('arraybuffer');
    ws.open();
    expect(ws.json()).toEqual([{ type: 'auth', token: 'token-1' }]);
    ws.receive({ type: 'auth-ok', principal: { name: 'u', role: 'viewer' }, pingInterval: 30 });
    expect(ws.json()[1]).toEqual(REGISTER);
    expect(client.ready).toBe(false);
    ws.receive({ type: 'registered', streamId: STREAM });
    expect(client.ready).toBe(true);
    expect(states).toEqual(['connecting', 'authenticating', 'joining', 'ready']);
  });

  it('a consumer subscribes with binary: true and gets decoded frames and messages', async () => {
    const { client } = setup({ join: SUBSCRIBE });
    const frames: number[] = [];
    const types: string[] = [];
    client.onFrame((f) => frames.push(f.timestamp));
    client.onMessage((m) => types.push(m.type));
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    ws.handshake('subscribed');
    expect(ws.json()[1]).toMatchObject({ type: 'subscribe', binary: true, consumes: ['video', 'alerts'] });
    ws.receiveBinary(encodeFrame(STREAM, 1000, JPEG));
    ws.receiveBinary(new Uint8Array([1, 2, 3]));
    ws.receive({ type: 'alert', id: 'a1', streamId: STREAM, alertType: 'ml-alert', severity: 'high', message: 'person', metadata: {}, timestamp: '2026-01-01T00:00:00Z', source: 'api_key:k' });
    expect(frames).toEqual([1000]);
    expect(client.counters).toMatchObject({ framesReceived: 1, badFrames: 1 });
    expect(types).toEqual(['auth-ok', 'subscribed', 'alert']);
  });

  it('sends frames only when ready, and skips them while the socket is congested', async () => {
    const { client } = setup({ maxBufferedBytes: 100 });
    const frame = encodeFrame(STREAM, 1, JPEG);
    expect(client.sendFrame(frame)).toBe('not-ready');
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    ws.open();
    expect(client.sendFrame(frame)).toBe('not-ready');
    ws.receive({ type: 'auth-ok', principal: { name: 'u', role: 'viewer' }, pingInterval: 30 });
    ws.receive({ type: 'registered', streamId: STREAM });
    expect(client.sendFrame(frame)).toBe('sent');
    ws.bufferedAmount = 101;
    expect(client.sendFrame(frame)).toBe('skipped');
    ws.bufferedAmount = 0;
    expect(client.sendFrame(frame)).toBe('sent');
    expect(ws.binaries()).toHaveLength(2);
    expect(client.counters).toMatchObject({ framesSent: 2, framesSkipped: 1, bytesSent: 2 * frame.byteLength });
  });

  it('answers ping with pong and keeps the ts', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    ws.handshake();
    ws.receive({ type: 'ping', ts: 123 });
    expect(ws.json().at(-1)).toEqual({ type: 'pong', ts: 123 });
  });

  it('reconnects with backoff after a drop, and registers again', async () => {
    const { client } = setup();
    client.start();
    await tick();
    FakeRelaySocket.last().handshake();
    FakeRelaySocket.last().serverClose(1006);
    expect(client.getSnapshot()).toMatchObject({ state: 'reconnecting', attempt: 1 });
    vi.advanceTimersByTime(499);
    await tick();
    expect(FakeRelaySocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    await tick();
    expect(FakeRelaySocket.all).toHaveLength(2);
    FakeRelaySocket.last().serverClose(1006);
    expect(client.getSnapshot().attempt).toBe(2);
    vi.advanceTimersByTime(1000);
    await tick();
    const ws = FakeRelaySocket.last();
    ws.handshake();
    expect(ws.json().map((m) => m.type)).toEqual(['auth', 'register']);
    expect(client.getSnapshot()).toMatchObject({ state: 'ready', attempt: 0 });
  });

  it('drops a silent connection after 2.5 ping intervals (heartbeat) and reconnects', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    ws.open();
    ws.receive({ type: 'auth-ok', principal: { name: 'u', role: 'viewer' }, pingInterval: 2 });
    ws.receive({ type: 'registered', streamId: STREAM });
    vi.advanceTimersByTime(4_000);
    ws.receive({ type: 'ping', ts: 1 });
    vi.advanceTimersByTime(4_500);
    expect(client.getSnapshot().state).toBe('ready');
    vi.advanceTimersByTime(1_000);
    expect(client.getSnapshot().state).toBe('reconnecting');
    expect(ws.closedWith?.reason).toBe('heartbeat timeout');
  });

  it('gives up for good when the stream is deleted or another producer takes over', async () => {
    for (const [how, reason] of [
      [(ws: FakeRelaySocket) => ws.serverClose(4404, 'stream deleted'), 'deleted'],
      [(ws: FakeRelaySocket) => ws.receive({ type: 'producer-replaced', streamId: STREAM }), 'replaced'],
      [(ws: FakeRelaySocket) => ws.serverClose(4409, 'producer replaced'), 'replaced'],
      [(ws: FakeRelaySocket) => ws.receive({ type: 'stream-deleted', streamId: STREAM }), 'deleted'],
    ] as const) {
      const { client } = setup();
      client.start();
      await tick();
      const ws = FakeRelaySocket.last();
      ws.handshake();
      how(ws);
      expect(client.getSnapshot()).toMatchObject({ state: 'closed', closedReason: reason });
      vi.advanceTimersByTime(60_000);
      await tick();
      expect(FakeRelaySocket.last()).toBe(ws);
      client.stop();
    }
  });

  it('is refused for good on an error while joining (unknown stream)', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    ws.open();
    ws.receive({ type: 'auth-ok', principal: { name: 'u', role: 'viewer' }, pingInterval: 30 });
    ws.receive({ type: 'error', error: { code: 'NOT_FOUND', message: 'Stream not found.', severity: 'ERROR', correlationId: 'c' }, streamId: STREAM });
    expect(client.getSnapshot()).toMatchObject({ state: 'closed', closedReason: 'refused', message: 'Stream not found.' });
  });

  it('an error once ready is only reported', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    ws.handshake();
    ws.receive({ type: 'error', error: { code: 'INVALID_FRAME', message: 'Not a JPEG.', severity: 'WARNING', correlationId: 'c' } });
    expect(client.getSnapshot()).toMatchObject({ state: 'ready', message: 'Not a JPEG.' });
  });

  it('refreshes the token when it is refused (1008 Unauthorized, 4401) and reconnects at once', async () => {
    const { client, refreshToken } = setup();
    client.start();
    await tick();
    FakeRelaySocket.last().open();
    FakeRelaySocket.last().serverClose(1008, 'Unauthorized');
    await tick();
    expect(refreshToken).toHaveBeenCalledTimes(1);
    expect(FakeRelaySocket.all).toHaveLength(2);
    FakeRelaySocket.last().open();
    expect(FakeRelaySocket.last().json()[0]).toEqual({ type: 'auth', token: 'token-2' });
    FakeRelaySocket.last().serverClose(4401);
    await tick();
    expect(refreshToken).toHaveBeenCalledTimes(2);
    FakeRelaySocket.last().serverClose(4401);
    await tick();
    // a third refusal in a row: back off like any failure
    expect(refreshToken).toHaveBeenCalledTimes(2);
    expect(client.getSnapshot().state).toBe('reconnecting');
  });

  it('stops as signed out when there is no token', async () => {
    const { client, signOut } = setup();
    signOut();
    client.start();
    await tick();
    expect(FakeRelaySocket.all).toHaveLength(0);
    expect(client.getSnapshot()).toMatchObject({ state: 'closed', closedReason: 'signed-out' });
  });

  it('times out a handshake that never completes', async () => {
    const { client } = setup({ handshakeTimeoutMs: 1000 });
    client.start();
    await tick();
    FakeRelaySocket.last().open();
    vi.advanceTimersByTime(1000);
    expect(client.getSnapshot().state).toBe('reconnecting');
  });

  it('stop() closes the socket and ignores its late events; start() leaves closed', async () => {
    const { client } = setup();
    client.start();
    await tick();
    const ws = FakeRelaySocket.last();
    ws.handshake();
    client.stop();
    expect(ws.closedWith?.code).toBe(1000);
    expect(client.getSnapshot().state).toBe('idle');
    ws.serverClose(4404);
    expect(client.getSnapshot().state).toBe('idle');
    client.start();
    await tick();
    expect(FakeRelaySocket.all).toHaveLength(2);
  });
});
