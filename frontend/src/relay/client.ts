/**
 * One connection to the mobile relay `/api/streams/ws` for one stream, as a producer (the
 * /publish page: `register`, then binary video frames out, alerts in) or a consumer (the
 * stream viewer: `subscribe` with `binary: true`, frames and alerts in).
 *
 * State machine (`RelayState`):
 *
 *   idle ──start()──▶ connecting ──open──▶ authenticating ──auth-ok──▶ joining
 *   joining ──registered/subscribed──▶ ready
 *   any live state ──close / heartbeat loss / handshake timeout──▶ reconnecting ──backoff──▶ connecting
 *   4401/1008 (token refused) ──refresh ok──▶ connecting (once per failure streak, then backoff)
 *   4404 or `stream-deleted` ─▶ closed('deleted');  4409 or `producer-replaced` ─▶ closed('replaced')
 *   an `error` while joining (not found, permission) ─▶ closed('refused'); no session ─▶ closed('signed-out')
 *   stop() ─▶ idle
 *
 * `closed` is terminal (the page says why); `start()` leaves it. Reconnects use the shared
 * backoff (realtime/backoff.ts). Heartbeat: the server pings every `pingInterval` s (auth-ok);
 * any message counts as alive, and more than 2.5 intervals without one drops the socket.
 * A producer never queues frames in the browser: `sendFrame` skips a frame while the socket
 * still holds more than `maxBufferedBytes` (latest frame wins, like the server's queues).
 */
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from '../realtime/backoff';
import type { RefreshOutcome } from '../realtime/client';
import { decodeFrame, FrameError, type RelayFrame } from './frame';
import { RELAY_CLOSE, relayUrl, type RelayClientMessage, type RelayJoin, type RelayServerMessage } from './protocol';

/** The part of the WebSocket interface used here (a fake one in tests). */
export interface RelaySocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

export type RelayState = 'idle' | 'connecting' | 'authenticating' | 'joining' | 'ready' | 'reconnecting' | 'closed';
export type RelayClosedReason = 'deleted' | 'replaced' | 'refused' | 'signed-out';

export interface RelaySnapshot {
  state: RelayState;
  /** Failed attempts in a row (0 once ready). */
  attempt: number;
  /** Epoch ms of the next attempt while reconnecting. */
  nextRetryAt: number | null;
  /** Why the client stopped for good (state `closed`). */
  closedReason: RelayClosedReason | null;
  /** A sentence for the user about the last problem (server error message or close reason). */
  message: string | null;
}

export interface RelayCounters {
  framesSent: number;
  /** Frames not sent because the socket was still busy with earlier ones. */
  framesSkipped: number;
  bytesSent: number;
  framesReceived: number;
  /** Binary messages that did not decode (counted, otherwise ignored). */
  badFrames: number;
}

export type SendResult = 'sent' | 'skipped' | 'not-ready';

export interface RelayClientOptions {
  /** The `register` or `subscribe` message sent once authenticated (on every connect). */
  join: RelayJoin;
  getToken: () => Promise<string | null> | string | null;
  refreshToken: () => Promise<RefreshOutcome>;
  url?: string | (() => string);
  createSocket?: (url: string) => RelaySocketLike;
  backoff?: BackoffOptions;
  random?: () => number;
  /** Before the server says (auth-ok.pingInterval), ms. */
  pingIntervalMs?: number;
  /** From `open` to `registered`/`subscribed`, ms. */
  handshakeTimeoutMs?: number;
  maxBufferedBytes?: number;
  now?: () => number;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const OPEN = 1;

const CLOSED_MESSAGES: Record<RelayClosedReason, string> = {
  deleted: 'This stream was deleted.',
  replaced: 'Another device or tab took over this stream.',
  refused: 'The server refused this stream.',
  'signed-out': 'Sign in again to continue.',
};

export class RelayClient {
  private readonly o: Required<Omit<RelayClientOptions, 'url'>>;
  private readonly url: () => string;
  private socket: RelaySocketLike | null = null;
  private running = false;
  private generation = 0;
  private authFailures = 0;
  private timers: { reconnect: unknown; watchdog: unknown; handshake: unknown } = { reconnect: null, watchdog: null, handshake: null };
  private lastMessageAt = 0;
  private pingMs: number;
  private snap: RelaySnapshot = { state: 'idle', attempt: 0, nextRetryAt: null, closedReason: null, message: null };
  private readonly listeners = new Set<() => void>();
  private readonly messageListeners = new Set<(m: RelayServerMessage) => void>();
  private readonly frameListeners = new Set<(f: RelayFrame) => void>();
  readonly counters: RelayCounters = { framesSent: 0, framesSkipped: 0, bytesSent: 0, framesReceived: 0, badFrames: 0 };
  /** Sockets opened so far. */
  connects = 0;

  constructor(opts: RelayClientOptions) {
    const u = opts.url;
    this.url = typeof u === 'function' ? u : () => u ?? relayUrl();
    this.o = {
      join: opts.join,
      getToken: opts.getToken,
      refreshToken: opts.refreshToken,
      createSocket: opts.createSocket ?? ((url) => new WebSocket(url)),
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      random: opts.random ?? Math.random,
      pingIntervalMs: opts.pingIntervalMs ?? 30_000,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 15_000,
      maxBufferedBytes: opts.maxBufferedBytes ?? 1 << 20,
      now: opts.now ?? (() => Date.now()),
      setTimer: opts.setTimer ?? ((cb, ms) => setTimeout(cb, ms)),
      clearTimer: opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
    };
    this.pingMs = this.o.pingIntervalMs;
  }

  // -- observing ------------------------------------------------------------------------

  getSnapshot = (): RelaySnapshot => this.snap;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  /** Every JSON message from the server (after the client handled it). */
  onMessage(l: (m: RelayServerMessage) => void): () => void {
    this.messageListeners.add(l);
    return () => this.messageListeners.delete(l);
  }

  /** Every binary video frame (decoded). */
  onFrame(l: (f: RelayFrame) => void): () => void {
    this.frameListeners.add(l);
    return () => this.frameListeners.delete(l);
  }

  get ready(): boolean {
    return this.snap.state === 'ready';
  }

  // -- control --------------------------------------------------------------------------

  start(): void {
    if (this.running) return;
    this.running = true;
    this.authFailures = 0;
    this.set({ attempt: 0, closedReason: null, message: null, nextRetryAt: null });
    void this.connect();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    this.clearTimers();
    this.dropSocket(1000, 'client stopped');
    this.set({ state: 'idle', nextRetryAt: null });
  }

  /** Skip the backoff wait (the page became visible, the browser came back online). */
  reconnectNow(): void {
    if (!this.running || this.snap.state !== 'reconnecting') return;
    this.clearTimers();
    void this.connect();
  }

  /** A binary frame (already encoded) to the server; only when ready and not congested. */
  sendFrame(frame: Uint8Array): SendResult {
    const ws = this.socket;
    if (!ws || ws.readyState !== OPEN || this.snap.state !== 'ready') return 'not-ready';
    if (ws.bufferedAmount > this.o.maxBufferedBytes) {
      this.counters.framesSkipped++;
      return 'skipped';
    }
    ws.send(frame);
    this.counters.framesSent++;
    this.counters.bytesSent += frame.byteLength;
    return 'sent';
  }

  // -- internals ------------------------------------------------------------------------

  private set(patch: Partial<RelaySnapshot>): void {
    const next = { ...this.snap, ...patch };
    const k = Object.keys(patch) as (keyof RelaySnapshot)[];
    if (k.every((key) => next[key] === this.snap[key])) return;
    this.snap = next;
    for (const l of this.listeners) l();
  }

  private send(msg: RelayClientMessage): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(msg));
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.set({ state: 'connecting', nextRetryAt: null });
    let token: string | null;
    try {
      token = await this.o.getToken();
    } catch {
      token = null;
    }
    if (gen !== this.generation || !this.running) return;
    if (!token) {
      this.finish('signed-out');
      return;
    }
    let ws: RelaySocketLike;
    try {
      ws = this.o.createSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.connects++;
    this.socket = ws;
    ws.onopen = () => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.o.now();
      this.set({ state: 'authenticating' });
      this.send({ type: 'auth', token });
      this.startWatchdog(gen);
      this.timers.handshake = this.o.setTimer(() => {
        if (gen === this.generation && this.snap.state !== 'ready') this.fail(gen, 4000, 'handshake timeout');
      }, this.o.handshakeTimeoutMs);
    };
    ws.onmessage = (ev) => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.o.now();
      if (typeof ev.data === 'string') this.handleText(gen, ev.data);
      else if (ev.data instanceof ArrayBuffer) this.handleBinary(ev.data);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
    ws.onclose = (ev) => {
      if (gen !== this.generation) return;
      this.socket = null;
      this.clearTimers();
      if (!this.running) return;
      this.handleClose(gen, ev.code, ev.reason);
    };
  }

  private handleClose(gen: number, code: number, reason: string): void {
    if (code === RELAY_CLOSE.deleted) return this.finish('deleted');
    if (code === RELAY_CLOSE.replaced) return this.finish('replaced');
    if (code === RELAY_CLOSE.revoked || (code === RELAY_CLOSE.unauthorized && /unauthori[sz]ed/i.test(reason))) {
      void this.handleAuthRefused(gen);
      return;
    }
    if (code === RELAY_CLOSE.unauthorized && reason) this.set({ message: reason });
    this.scheduleReconnect();
  }

  private handleText(gen: number, data: string): void {
    let msg: RelayServerMessage;
    try {
      msg = JSON.parse(data) as RelayServerMessage;
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    switch (msg.type) {
      case 'auth-ok':
        if (typeof msg.pingInterval === 'number' && msg.pingInterval > 0) this.pingMs = msg.pingInterval * 1000;
        this.set({ state: 'joining' });
        this.send(this.o.join);
        break;
      case 'registered':
      case 'subscribed':
        if (msg.streamId !== this.o.join.streamId) break;
        if (this.timers.handshake !== null) this.o.clearTimer(this.timers.handshake);
        this.timers.handshake = null;
        this.authFailures = 0;
        this.set({ state: 'ready', attempt: 0, nextRetryAt: null, message: null });
        break;
      case 'ping':
        this.send(msg.ts === undefined || msg.ts === null ? { type: 'pong' } : { type: 'pong', ts: msg.ts });
        break;
      case 'stream-deleted':
        this.emit(msg);
        this.finish('deleted');
        return;
      case 'producer-replaced':
        this.emit(msg);
        this.finish('replaced');
        return;
      case 'error':
        // Refused while joining (unknown stream, not ours): retrying cannot help.
        if (this.snap.state === 'joining') {
          this.emit(msg);
          this.finish('refused', msg.error.message);
          return;
        }
        this.set({ message: msg.error.message });
        break;
      default:
        break;
    }
    if (gen === this.generation) this.emit(msg);
  }

  private handleBinary(data: ArrayBuffer): void {
    let frame: RelayFrame;
    try {
      frame = decodeFrame(data);
    } catch (e) {
      if (e instanceof FrameError) {
        this.counters.badFrames++;
        return;
      }
      throw e;
    }
    this.counters.framesReceived++;
    for (const l of this.frameListeners) l(frame);
  }

  private emit(msg: RelayServerMessage): void {
    for (const l of this.messageListeners) l(msg);
  }

  private async handleAuthRefused(gen: number): Promise<void> {
    this.authFailures++;
    if (this.authFailures > 2) {
      this.scheduleReconnect();
      return;
    }
    const outcome = await this.o.refreshToken();
    if (gen !== this.generation || !this.running) return;
    if (outcome === 'signed-out') this.finish('signed-out');
    else if (outcome === 'ok') void this.connect();
    else this.scheduleReconnect();
  }

  /** Terminal: stop and say why. */
  private finish(reason: RelayClosedReason, message?: string): void {
    this.running = false;
    this.generation++;
    this.clearTimers();
    this.dropSocket(1000, reason);
    this.set({ state: 'closed', closedReason: reason, message: message ?? CLOSED_MESSAGES[reason], nextRetryAt: null });
  }

  private scheduleReconnect(): void {
    if (!this.running) return;
    const attempt = this.snap.attempt;
    const delay = backoffDelay(attempt, this.o.backoff, this.o.random);
    this.set({ state: 'reconnecting', attempt: attempt + 1, nextRetryAt: this.o.now() + delay });
    const gen = ++this.generation;
    this.timers.reconnect = this.o.setTimer(() => {
      this.timers.reconnect = null;
      if (gen === this.generation && this.running) void this.connect();
    }, delay);
  }

  private startWatchdog(gen: number): void {
    const every = () => Math.max(250, Math.min(this.pingMs / 4, 5_000));
    const tick = () => {
      if (gen !== this.generation) return;
      if (this.o.now() - this.lastMessageAt > 2.5 * this.pingMs) {
        this.fail(gen, 4000, 'heartbeat timeout');
        return;
      }
      this.timers.watchdog = this.o.setTimer(tick, every());
    };
    this.timers.watchdog = this.o.setTimer(tick, every());
  }

  private fail(gen: number, code: number, reason: string): void {
    if (gen !== this.generation) return;
    this.clearTimers();
    this.dropSocket(code, reason);
    this.scheduleReconnect();
  }

  private dropSocket(code: number, reason: string): void {
    const ws = this.socket;
    this.socket = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
  }

  private clearTimers(): void {
    for (const t of Object.values(this.timers)) if (t !== null) this.o.clearTimer(t);
    this.timers = { reconnect: null, watchdog: null, handshake: null };
  }
}
