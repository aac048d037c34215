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
 *
 * The socket's life (token, backoff, heartbeat, handshake timeout) is ReconnectingSocket's
 * (reconnectingSocket.ts, shared with the relay client); the hub's messages are here.
 */
import { CLOSE_AUTH_EXPIRED, DEFAULT_TOPICS, type ClientMessage, type ServerEvent } from './protocol';
import { ReconnectingSocket, parseMessage, type ConnectionOptions, type SocketFactory, type SocketLike } from './reconnectingSocket';
import type { RealtimeStore } from './store';

export type { RefreshOutcome, SocketFactory, SocketLike } from './reconnectingSocket';

export interface RealtimeClientOptions extends ConnectionOptions {
  store: RealtimeStore;
  onSignedOut?: () => void;
  createSocket?: SocketFactory;
  topics?: string[];
  /** After this many failed attempts in a row the state reads 'offline' instead of 'reconnecting'. */
  offlineAfterAttempts?: number;
  isOnline?: () => boolean;
}

/** The hub's ping interval (DESIGN §7: 20 s), until auth-ok says otherwise, ms. */
const HUB_PING_INTERVAL_MS = 20_000;
/** Time allowed from `open` to `subscribed`, ms. */
const HUB_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Ping intervals without any message after which the hub connection counts as dead. */
const HUB_SILENT_INTERVALS = 2;

export function defaultHubUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/ws`;
}

export class RealtimeClient {
  private readonly store: RealtimeStore;
  private readonly onSignedOut: (() => void) | undefined;
  private readonly topics: string[];
  private readonly offlineAfterAttempts: number;
  private readonly isOnline: () => boolean;
  private readonly connection: ReconnectingSocket<SocketLike>;
  private everConnected = false;
  private lastAlertId: string | null = null;
  private readonly connectedListeners = new Set<() => void>();

  constructor(opts: RealtimeClientOptions) {
    this.store = opts.store;
    this.onSignedOut = opts.onSignedOut;
    this.topics = opts.topics ?? DEFAULT_TOPICS;
    this.offlineAfterAttempts = opts.offlineAfterAttempts ?? 4;
    this.isOnline = opts.isOnline ?? (() => (typeof navigator === 'undefined' ? true : navigator.onLine !== false));
    this.connection = new ReconnectingSocket(
      {
        ...opts,
        url: opts.url ?? defaultHubUrl,
        createSocket: opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike),
        pingIntervalMs: opts.pingIntervalMs ?? HUB_PING_INTERVAL_MS,
        handshakeTimeoutMs: opts.handshakeTimeoutMs ?? HUB_HANDSHAKE_TIMEOUT_MS,
        silentIntervals: HUB_SILENT_INTERVALS,
      },
      {
        connecting: () => this.store.setConnection(this.connection.attempt === 0 && !this.everConnected ? 'connecting' : this.failState(), this.connection.attempt),
        authenticate: (token) => {
          const auth: ClientMessage = { type: 'auth', token };
          if (this.lastAlertId) auth.lastAlertId = this.lastAlertId;
          this.send(auth);
        },
        message: (data) => this.handleMessage(data),
        isReady: () => this.connected,
        closed: (code) => (code === CLOSE_AUTH_EXPIRED ? 'refresh-token' : 'reconnect'),
        reconnecting: (attempt, nextRetryAt) => this.store.setConnection(this.failState(), attempt, nextRetryAt),
        signedOut: () => {
          this.store.setConnection('idle');
          this.onSignedOut?.();
        },
      },
    );
  }

  /** Sockets opened so far (for tests and diagnostics). */
  get connects(): number {
    return this.connection.connects;
  }

  get connected(): boolean {
    return this.store.getState().connection === 'connected';
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
    this.connection.start();
  }

  stop(): void {
    this.connection.stop();
    this.store.setConnection('idle');
  }

  /** Forget per-session state (sign-out). */
  reset(): void {
    this.stop();
    this.lastAlertId = null;
    this.everConnected = false;
    // The next user's first 4401 gets a refresh, not the previous session's backoff.
    this.connection.forgetTokenRefreshes();
  }

  /** Skip the current backoff wait (e.g. the browser came back online). */
  reconnectNow(): void {
    if (!this.connection.running) return;
    if (this.connection.openSocket && this.connected) return;
    this.connection.reconnectNow();
  }

  private send(msg: ClientMessage): void {
    this.connection.sendJson(msg);
  }

  private handleMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    const msg = parseMessage<ServerEvent>(data);
    if (!msg) return;
    switch (msg.type) {
      case 'auth-ok': {
        // The hub says how often it pings (seconds); the heartbeat limit follows it.
        this.connection.setPingInterval((msg as { pingInterval?: unknown }).pingInterval);
        this.send({ type: 'subscribe', topics: this.topics });
        return;
      }
      case 'subscribed': {
        this.connection.markReady();
        const wasReconnect = this.everConnected;
        this.everConnected = true;
        this.store.setConnection('connected');
        if (wasReconnect) this.store.resync();
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
    this.store.dispatch(msg);
  }

  private failState(): 'reconnecting' | 'offline' {
    return !this.isOnline() || this.connection.attempt >= this.offlineAfterAttempts ? 'offline' : 'reconnecting';
  }
}
