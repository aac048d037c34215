/**
 * One WebSocket per tab to the dashboard hub `/ws`.
 *
 * - authenticates first (`auth` with the access token and the last alert id seen, so the
 *   hub replays what was missed), then subscribes;
 * - reconnects with exponential backoff and jitter; `close 4401` (token expired) refreshes
 *   the token and reconnects at once;
 * - heartbeat: the hub pings every 20 s; no message at all for more than 2 × that interval
 *   means the connection is dead (a half-open TCP connection never fires `close`), so the
 *   socket is dropped and a new one made;
 * - answers `ping` with `pong`; every other message goes to the store.
 */
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff';
import { CLOSE_AUTH_EXPIRED, DEFAULT_TOPICS, type ClientMessage, type ServerEvent } from './protocol';
import type { RealtimeStore } from './store';

/** The part of the WebSocket interface used here (a fake one is used in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export type RefreshOutcome = 'ok' | 'signed-out' | 'unreachable';

export interface RealtimeClientOptions {
  store: RealtimeStore;
  url?: string | (() => string);
  /** Current (fresh) access token, or null when signed out. */
  getToken: () => Promise<string | null> | string | null;
  refreshToken: () => Promise<RefreshOutcome>;
  onSignedOut?: () => void;
  createSocket?: SocketFactory;
  topics?: string[];
  /** The hub's ping interval (DESIGN §7: 20 s). */
  pingIntervalMs?: number;
  /** Time allowed from `open` to `subscribed`. */
  handshakeTimeoutMs?: number;
  backoff?: BackoffOptions;
  random?: () => number;
  /** After this many failed attempts in a row the state reads 'offline' instead of 'reconnecting'. */
  offlineAfterAttempts?: number;
  isOnline?: () => boolean;
  now?: () => number;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const OPEN = 1;

export function defaultHubUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/ws`;
}

export class RealtimeClient {
  private readonly o: Required<Omit<RealtimeClientOptions, 'onSignedOut' | 'url'>> & Pick<RealtimeClientOptions, 'onSignedOut'>;
  private readonly url: () => string;
  private socket: SocketLike | null = null;
  private running = false;
  private attempt = 0;
  private authFailures = 0;
  private everConnected = false;
  private reconnectTimer: unknown = null;
  private watchdogTimer: unknown = null;
  private handshakeTimer: unknown = null;
  private lastMessageAt = 0;
  private pingMs: number;
  private lastAlertId: string | null = null;
  private generation = 0;
  private readonly connectedListeners = new Set<() => void>();
  /** Sockets opened so far (for tests and diagnostics). */
  connects = 0;

  constructor(opts: RealtimeClientOptions) {
    const u = opts.url;
    this.url = typeof u === 'function' ? u : () => u ?? defaultHubUrl();
    this.o = {
      store: opts.store,
      getToken: opts.getToken,
      refreshToken: opts.refreshToken,
      onSignedOut: opts.onSignedOut,
      createSocket: opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike),
      topics: opts.topics ?? DEFAULT_TOPICS,
      pingIntervalMs: opts.pingIntervalMs ?? 20_000,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10_000,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      random: opts.random ?? Math.random,
      offlineAfterAttempts: opts.offlineAfterAttempts ?? 4,
      isOnline: opts.isOnline ?? (() => (typeof navigator === 'undefined' ? true : navigator.onLine !== false)),
      now: opts.now ?? (() => Date.now()),
      setTimer: opts.setTimer ?? ((cb, ms) => setTimeout(cb, ms)),
      clearTimer: opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
    };
    this.pingMs = this.o.pingIntervalMs;
  }

  get connected(): boolean {
    return this.o.store.getState().connection === 'connected';
  }

  /** The id of the newest alert seen; sent on (re)connect so the hub replays what was missed. */
  getLastAlertId(): string | null {
    return this.lastAlertId;
  }

  /** Alerts loaded over REST count as seen too (only when nothing newer came over the socket). */
  noteAlertSeen(id: string | null | undefined): void {
    if (id && !this.lastAlertId) this.lastAlertId = id;
  }

  /** Called each time the hub confirms the subscription (first connect and every reconnect). */
  onConnected(l: () => void): () => void {
    this.connectedListeners.add(l);
    return () => this.connectedListeners.delete(l);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    this.clearTimers();
    this.dropSocket(1000, 'client stopped');
    this.o.store.setConnection('idle');
  }

  /** Forget per-session state (sign-out). */
  reset(): void {
    this.stop();
    this.lastAlertId = null;
    this.everConnected = false;
  }

  /** Skip the current backoff wait (e.g. the browser came back online). */
  reconnectNow(): void {
    if (!this.running) return;
    if (this.socket && this.socket.readyState === OPEN && this.connected) return;
    this.clearTimers();
    this.dropSocket(4000, 'reconnect');
    void this.connect();
  }

  private send(msg: ClientMessage): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(msg));
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.o.store.setConnection(this.attempt === 0 && !this.everConnected ? 'connecting' : this.failState(), this.attempt);
    let token: string | null;
    try {
      token = await this.o.getToken();
    } catch {
      token = null;
    }
    if (gen !== this.generation || !this.running) return;
    if (!token) {
      this.running = false;
      this.o.store.setConnection('idle');
      this.o.onSignedOut?.();
      return;
    }
    let ws: SocketLike;
    try {
      ws = this.o.createSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.connects++;
    this.socket = ws;
    ws.onopen = () => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.o.now();
      const auth: ClientMessage = { type: 'auth', token };
      if (this.lastAlertId) auth.lastAlertId = this.lastAlertId;
      this.send(auth);
      this.startWatchdog(gen);
      this.handshakeTimer = this.o.setTimer(() => {
        if (gen === this.generation && !this.connected) this.fail(gen, 4000, 'handshake timeout');
      }, this.o.handshakeTimeoutMs);
    };
    ws.onmessage = (ev) => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.o.now();
      this.handleMessage(ev.data);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
    ws.onclose = (ev) => {
      if (gen !== this.generation) return;
      this.socket = null;
      this.clearTimers();
      if (!this.running) return;
      if (ev.code === CLOSE_AUTH_EXPIRED) void this.handleAuthExpired(gen);
      else this.scheduleReconnect();
    };
  }

  private handleMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let msg: ServerEvent;
    try {
      msg = JSON.parse(data) as ServerEvent;
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    switch (msg.type) {
      case 'auth-ok': {
        // The hub says how often it pings (seconds); the heartbeat limit follows it.
        const interval = (msg as { pingInterval?: unknown }).pingInterval;
        if (typeof interval === 'number' && interval > 0) this.pingMs = interval * 1000;
        this.send({ type: 'subscribe', topics: this.o.topics });
        return;
      }
      case 'subscribed': {
        if (this.handshakeTimer !== null) this.o.clearTimer(this.handshakeTimer);
        this.handshakeTimer = null;
        const wasReconnect = this.everConnected;
        this.everConnected = true;
        this.attempt = 0;
        this.authFailures = 0;
        this.o.store.setConnection('connected');
        if (wasReconnect) this.o.store.resync();
        for (const l of this.connectedListeners) l();
        return;
      }
      case 'ping': {
        const ts = (msg as { ts?: number | string }).ts;
        this.send(ts === undefined ? { type: 'pong' } : { type: 'pong', ts });
        return;
      }
      case 'alert':
      case 'face-detection-alert': {
        const id = (msg as { id?: unknown }).id;
        if (typeof id === 'string') this.lastAlertId = id;
        break;
      }
      default:
        break;
    }
    this.o.store.dispatch(msg);
  }

  private async handleAuthExpired(gen: number): Promise<void> {
    this.authFailures++;
    if (this.authFailures > 2) {
      // The token was just refreshed and is still refused: back off like any failure.
      this.scheduleReconnect();
      return;
    }
    const outcome = await this.o.refreshToken();
    if (gen !== this.generation || !this.running) return;
    if (outcome === 'signed-out') {
      this.running = false;
      this.o.store.setConnection('idle');
      this.o.onSignedOut?.();
    } else if (outcome === 'ok') {
      void this.connect();
    } else {
      this.scheduleReconnect();
    }
  }

  private failState(): 'reconnecting' | 'offline' {
    return !this.o.isOnline() || this.attempt >= this.o.offlineAfterAttempts ? 'offline' : 'reconnecting';
  }

  private scheduleReconnect(): void {
    if (!this.running) return;
    const delay = backoffDelay(this.attempt, this.o.backoff, this.o.random);
    this.attempt++;
    this.o.store.setConnection(this.failState(), this.attempt, this.o.now() + delay);
    const gen = ++this.generation;
    this.reconnectTimer = this.o.setTimer(() => {
      this.reconnectTimer = null;
      if (gen === this.generation && this.running) void this.connect();
    }, delay);
  }

  private startWatchdog(gen: number): void {
    const every = () => Math.max(250, Math.min(this.pingMs / 4, 5_000));
    const tick = () => {
      if (gen !== this.generation) return;
      if (this.o.now() - this.lastMessageAt > 2 * this.pingMs) {
        this.fail(gen, 4000, 'heartbeat timeout');
        return;
      }
      this.watchdogTimer = this.o.setTimer(tick, every());
    };
    this.watchdogTimer = this.o.setTimer(tick, every());
  }

  /** Treat the current socket as dead now (do not wait for a close event that may never come). */
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
    for (const t of [this.reconnectTimer, this.watchdogTimer, this.handshakeTimer]) if (t !== null) this.o.clearTimer(t);
    this.reconnectTimer = this.watchdogTimer = this.handshakeTimer = null;
  }
}
