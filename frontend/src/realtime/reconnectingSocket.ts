/**
 * The life of a signed-in WebSocket, shared by the dashboard hub client (realtime/client.ts)
 * and the mobile relay client (relay/client.ts); each keeps its own messages and states and
 * plugs them in through `SocketProtocol`.
 *
 * - connect: ask for the access token (none: signed out, stop), open the socket, send the
 *   protocol's auth message on `open`;
 * - handshake: the protocol calls `markReady()` once the server accepted it; if that has not
 *   happened `handshakeTimeoutMs` after `open`, the socket is dropped (4000) and retried;
 * - heartbeat: the server pings every `pingIntervalMs` (or what it said, `setPingInterval`);
 *   any message counts as alive, and `silentIntervals` intervals without one mean a dead
 *   connection (a half-open TCP connection never fires `close`): the socket is dropped (4000);
 * - close: the protocol says what a close code means: reconnect with backoff, refresh the
 *   token (at most twice in a failure streak, then backoff), or nothing (it stopped for good);
 * - reconnect: exponential backoff with jitter (realtime/backoff.ts), reset by `markReady()`.
 *
 * Every socket and timer belongs to a generation; events of an older one are ignored.
 */
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff';

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

/** What refreshing the access token came to: a new token, the session is over, or the server could not be reached. */
export type RefreshOutcome = 'ok' | 'signed-out' | 'unreachable';

/** What the protocol makes of the server closing the socket. */
export type CloseAction = 'reconnect' | 'refresh-token' | 'stopped';

/** The options both clients take (tests pass fake sockets, timers and clocks). */
export interface ConnectionOptions {
  /** Current (fresh) access token, or null when signed out. */
  getToken: () => Promise<string | null> | string | null;
  /** Refreshes the access token after the server refused it. */
  refreshToken: () => Promise<RefreshOutcome>;
  /** The server's address, or a function read on every connect. */
  url?: string | (() => string);
  backoff?: BackoffOptions;
  /** The jitter's random source, 0…1. */
  random?: () => number;
  /** The server's ping interval until it says otherwise (auth-ok `pingInterval`), ms. */
  pingIntervalMs?: number;
  /** Time allowed from `open` to the end of the handshake, ms. */
  handshakeTimeoutMs?: number;
  /** The clock, epoch ms. */
  now?: () => number;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** `ConnectionOptions` with what each client decides: its address, socket and timings. */
export interface ReconnectingSocketOptions<S extends SocketLike> extends ConnectionOptions {
  url: string | (() => string);
  createSocket: (url: string) => S;
  pingIntervalMs: number;
  handshakeTimeoutMs: number;
  /** Ping intervals without any message after which the connection counts as dead. */
  silentIntervals: number;
}

/** What a client plugs into the socket's life (all called synchronously). */
export interface SocketProtocol {
  /** A connection attempt begins (`ReconnectingSocket.attempt`: failed attempts in a row so far). */
  connecting(): void;
  /** The socket is open: send the auth message with `token`. */
  authenticate(token: string): void;
  /** A message of the current socket (`generation`: see `isCurrent`). */
  message(data: unknown, generation: number): void;
  /** Whether the handshake is complete (else the handshake timeout drops the socket). */
  isReady(): boolean;
  /** The server closed the socket with `code` and `reason` while running. */
  closed(code: number, reason: string): CloseAction;
  /** A reconnect is due at `nextRetryAt` (epoch ms); `attempt` failed attempts in a row. */
  reconnecting(attempt: number, nextRetryAt: number): void;
  /** No token, or the refresh said the session is over: the socket has stopped running. */
  signedOut(): void;
}

/**
 * A text message of the server as `T`: JSON with a string `type` (the protocol checks the
 * rest); null when it is not JSON or has no such `type` (nothing is thrown).
 */
export function parseMessage<T extends { type: string }>(text: string): T | null {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return null;
  }
  return msg && typeof (msg as { type?: unknown }).type === 'string' ? (msg as T) : null;
}

const OPEN = 1;
/** Token refreshes tried in one failure streak before a refusal is backed off like any failure. */
const MAX_TOKEN_REFRESHES = 2;
/** The heartbeat check runs every quarter ping interval, within these bounds, ms. */
const WATCHDOG_MIN_MS = 250;
const WATCHDOG_MAX_MS = 5_000;

export class ReconnectingSocket<S extends SocketLike> {
  private readonly url: () => string;
  private readonly createSocket: (url: string) => S;
  private readonly getToken: ConnectionOptions['getToken'];
  private readonly refreshToken: ConnectionOptions['refreshToken'];
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private readonly handshakeTimeoutMs: number;
  private readonly silentIntervals: number;
  private readonly now: () => number;
  private readonly setTimer: (cb: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private ws: S | null = null;
  private live = false;
  private generation = 0;
  private failedAttempts = 0;
  private tokenRefreshes = 0;
  private timers: { reconnect: unknown; watchdog: unknown; handshake: unknown } = { reconnect: null, watchdog: null, handshake: null };
  private lastMessageAt = 0;
  private pingMs: number;
  private opened = 0;

  /** `options` are read once; without them: DEFAULT_BACKOFF, Math.random, Date.now, setTimeout and clearTimeout. */
  constructor(
    options: ReconnectingSocketOptions<S>,
    private readonly protocol: SocketProtocol,
  ) {
    const u = options.url;
    this.url = typeof u === 'function' ? u : () => u;
    this.createSocket = options.createSocket;
    this.getToken = options.getToken;
    this.refreshToken = options.refreshToken;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
    this.pingMs = options.pingIntervalMs;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs;
    this.silentIntervals = options.silentIntervals;
    this.now = options.now ?? (() => Date.now());
    this.setTimer = options.setTimer ?? ((cb, ms) => setTimeout(cb, ms));
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  /** Whether it connects and reconnects (between `start()` and `stop()` or the session's end). */
  get running(): boolean {
    return this.live;
  }

  /** Sockets opened so far. */
  get connects(): number {
    return this.opened;
  }

  /** Failed attempts in a row (0 after `start()` and `markReady()`). */
  get attempt(): number {
    return this.failedAttempts;
  }

  /** The socket when it is open, else null. */
  get openSocket(): S | null {
    return this.ws && this.ws.readyState === OPEN ? this.ws : null;
  }

  /** Whether `generation` (as passed to `SocketProtocol.message`) is still the current one. */
  isCurrent(generation: number): boolean {
    return generation === this.generation;
  }

  /**
   * Starts connecting, unless already running. `prepare` runs once running, before the
   * first connect (a client resets what it shows there).
   */
  start(prepare?: () => void): void {
    if (this.live) return;
    this.live = true;
    this.failedAttempts = 0;
    prepare?.();
    void this.connect();
  }

  /** Stops for good: no reconnect; the socket is closed with 1000 and `reason`. */
  stop(reason = 'client stopped'): void {
    this.live = false;
    this.generation++;
    this.clearTimers();
    this.dropSocket(1000, reason);
  }

  /** Connects now, without waiting for the backoff: the socket there is (if any) is closed with 4000. */
  reconnectNow(): void {
    this.clearTimers();
    this.dropSocket(4000, 'reconnect');
    void this.connect();
  }

  /** Forgets the token refreshes of the current failure streak (the next refusal refreshes again). */
  forgetTokenRefreshes(): void {
    this.tokenRefreshes = 0;
  }

  /** The handshake is complete: no handshake timeout, and the failure streak is over. */
  markReady(): void {
    if (this.timers.handshake !== null) this.clearTimer(this.timers.handshake);
    this.timers.handshake = null;
    this.failedAttempts = 0;
    this.tokenRefreshes = 0;
  }

  /** The server's ping interval, s (auth-ok `pingInterval`); anything but a positive number is ignored. */
  setPingInterval(seconds: unknown): void {
    if (typeof seconds === 'number' && seconds > 0) this.pingMs = seconds * 1000;
  }

  /** Sends `msg` as JSON when the socket is open; otherwise it is dropped (nothing is queued). */
  sendJson(msg: unknown): void {
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(msg));
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.protocol.connecting();
    let token: string | null;
    try {
      token = await this.getToken();
    } catch {
      token = null;
    }
    if (gen !== this.generation || !this.live) return;
    if (!token) {
      this.live = false;
      this.protocol.signedOut();
      return;
    }
    let ws: S;
    try {
      ws = this.createSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.opened++;
    this.ws = ws;
    ws.onopen = () => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.now();
      this.protocol.authenticate(token);
      this.startWatchdog(gen);
      this.timers.handshake = this.setTimer(() => {
        if (gen === this.generation && !this.protocol.isReady()) this.fail(gen, 4000, 'handshake timeout');
      }, this.handshakeTimeoutMs);
    };
    ws.onmessage = (ev) => {
      if (gen !== this.generation) return;
      this.lastMessageAt = this.now();
      this.protocol.message(ev.data, gen);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
    ws.onclose = (ev) => {
      if (gen !== this.generation) return;
      this.ws = null;
      this.clearTimers();
      if (!this.live) return;
      const action = this.protocol.closed(ev.code, ev.reason);
      if (action === 'refresh-token') void this.refreshAndReconnect(gen);
      else if (action === 'reconnect') this.scheduleReconnect();
    };
  }

  /** The token was refused: refresh it and connect at once (twice in a streak at most). */
  private async refreshAndReconnect(gen: number): Promise<void> {
    this.tokenRefreshes++;
    if (this.tokenRefreshes > MAX_TOKEN_REFRESHES) {
      // The token was just refreshed and is still refused: back off like any failure.
      this.scheduleReconnect();
      return;
    }
    const outcome = await this.refreshToken();
    if (gen !== this.generation || !this.live) return;
    if (outcome === 'signed-out') {
      this.live = false;
      this.protocol.signedOut();
    } else if (outcome === 'ok') {
      void this.connect();
    } else {
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (!this.live) return;
    const delay = backoffDelay(this.failedAttempts, this.backoff, this.random);
    this.failedAttempts++;
    this.protocol.reconnecting(this.failedAttempts, this.now() + delay);
    const gen = ++this.generation;
    this.timers.reconnect = this.setTimer(() => {
      this.timers.reconnect = null;
      if (gen === this.generation && this.live) void this.connect();
    }, delay);
  }

  private startWatchdog(gen: number): void {
    const every = () => Math.max(WATCHDOG_MIN_MS, Math.min(this.pingMs / 4, WATCHDOG_MAX_MS));
    const tick = () => {
      if (gen !== this.generation) return;
      if (this.now() - this.lastMessageAt > this.silentIntervals * this.pingMs) {
        this.fail(gen, 4000, 'heartbeat timeout');
        return;
      }
      this.timers.watchdog = this.setTimer(tick, every());
    };
    this.timers.watchdog = this.setTimer(tick, every());
  }

  /** Treat the current socket as dead now (do not wait for a close event that may never come). */
  private fail(gen: number, code: number, reason: string): void {
    if (gen !== this.generation) return;
    this.clearTimers();
    this.dropSocket(code, reason);
    this.scheduleReconnect();
  }

  private dropSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
  }

  private clearTimers(): void {
    for (const t of Object.values(this.timers)) if (t !== null) this.clearTimer(t);
    this.timers = { reconnect: null, watchdog: null, handshake: null };
  }
}
