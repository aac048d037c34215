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
 * `closed` is terminal (the page says why); `start()` leaves it. The socket's life (token,
 * backoff, heartbeat, handshake timeout) is the hub client's too (realtime/reconnectingSocket.ts).
 * Heartbeat: the server pings every `pingInterval` s (auth-ok); any message counts as alive,
 * and more than 2.5 intervals without one drops the socket.
 * A producer never queues frames in the browser: `sendFrame` skips a frame while the socket
 * still holds more than `maxBufferedBytes` (latest frame wins, like the server's queues).
 */
import { ReconnectingSocket, parseMessage, type CloseAction, type ConnectionOptions, type SocketLike } from '../realtime/reconnectingSocket';
import { decodeFrame, FrameError, type RelayFrame } from './frame';
import { RELAY_CLOSE, relayUrl, type RelayClientMessage, type RelayJoin, type RelayServerMessage } from './protocol';

/** The part of the WebSocket interface used here (a fake one in tests): binary frames too. */
export interface RelaySocketLike extends SocketLike {
  readonly bufferedAmount: number;
  binaryType: BinaryType;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
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

export interface RelayClientOptions extends ConnectionOptions {
  /** The `register` or `subscribe` message sent once authenticated (on every connect). */
  join: RelayJoin;
  createSocket?: (url: string) => RelaySocketLike;
  /** A frame is skipped while the socket still holds more than this, bytes. */
  maxBufferedBytes?: number;
}

/** The relay's ping interval until auth-ok says otherwise, ms. */
const RELAY_PING_INTERVAL_MS = 30_000;
/** Time allowed from `open` to `registered`/`subscribed`, ms. */
const RELAY_HANDSHAKE_TIMEOUT_MS = 15_000;
/** Ping intervals without any message after which the relay connection counts as dead. */
const RELAY_SILENT_INTERVALS = 2.5;

const CLOSED_MESSAGES: Record<RelayClosedReason, string> = {
  deleted: 'This stream was deleted.',
  replaced: 'Another device or tab took over this stream.',
  refused: 'The server refused this stream.',
  'signed-out': 'Sign in again to continue.',
};

export class RelayClient {
  private readonly join: RelayJoin;
  private readonly maxBufferedBytes: number;
  private readonly connection: ReconnectingSocket<RelaySocketLike>;
  private snap: RelaySnapshot = { state: 'idle', attempt: 0, nextRetryAt: null, closedReason: null, message: null };
  private readonly listeners = new Set<() => void>();
  private readonly messageListeners = new Set<(m: RelayServerMessage) => void>();
  private readonly frameListeners = new Set<(f: RelayFrame) => void>();
  readonly counters: RelayCounters = { framesSent: 0, framesSkipped: 0, bytesSent: 0, framesReceived: 0, badFrames: 0 };

  constructor(opts: RelayClientOptions) {
    this.join = opts.join;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 1 << 20;
    const createSocket = opts.createSocket ?? ((url) => new WebSocket(url));
    this.connection = new ReconnectingSocket(
      {
        ...opts,
        url: opts.url ?? relayUrl,
        createSocket: (url) => {
          const ws = createSocket(url);
          ws.binaryType = 'arraybuffer';
          return ws;
        },
        pingIntervalMs: opts.pingIntervalMs ?? RELAY_PING_INTERVAL_MS,
        handshakeTimeoutMs: opts.handshakeTimeoutMs ?? RELAY_HANDSHAKE_TIMEOUT_MS,
        silentIntervals: RELAY_SILENT_INTERVALS,
      },
      {
        connecting: () => this.set({ state: 'connecting', nextRetryAt: null }),
        authenticate: (token) => {
          this.set({ state: 'authenticating' });
          this.send({ type: 'auth', token });
        },
        message: (data, gen) => {
          if (typeof data === 'string') this.handleText(gen, data);
          else if (data instanceof ArrayBuffer) this.handleBinary(data);
        },
        isReady: () => this.snap.state === 'ready',
        closed: (code, reason) => this.handleClose(code, reason),
        reconnecting: (attempt, nextRetryAt) => this.set({ state: 'reconnecting', attempt, nextRetryAt }),
        signedOut: () => this.finish('signed-out'),
      },
    );
  }

  /** Sockets opened so far. */
  get connects(): number {
    return this.connection.connects;
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
    this.connection.start(() => {
      this.connection.forgetTokenRefreshes();
      this.set({ attempt: 0, closedReason: null, message: null, nextRetryAt: null });
    });
  }

  stop(): void {
    this.connection.stop();
    this.set({ state: 'idle', nextRetryAt: null });
  }

  /** Skip the backoff wait (the page became visible, the browser came back online). */
  reconnectNow(): void {
    if (!this.connection.running || this.snap.state !== 'reconnecting') return;
    this.connection.reconnectNow();
  }

  /** A binary frame (already encoded) to the server; only when ready and not congested. */
  sendFrame(frame: Uint8Array): SendResult {
    const ws = this.connection.openSocket;
    if (!ws || this.snap.state !== 'ready') return 'not-ready';
    if (ws.bufferedAmount > this.maxBufferedBytes) {
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
    this.connection.sendJson(msg);
  }

  /** What a close by the server means: the stream is gone or taken (stop), the token was refused, or reconnect. */
  private handleClose(code: number, reason: string): CloseAction {
    if (code === RELAY_CLOSE.deleted || code === RELAY_CLOSE.replaced) {
      this.finish(code === RELAY_CLOSE.deleted ? 'deleted' : 'replaced');
      return 'stopped';
    }
    if (code === RELAY_CLOSE.revoked || (code === RELAY_CLOSE.unauthorized && /unauthori[sz]ed/i.test(reason))) return 'refresh-token';
    if (code === RELAY_CLOSE.unauthorized && reason) this.set({ message: reason });
    return 'reconnect';
  }

  private handleText(gen: number, data: string): void {
    const msg = parseMessage<RelayServerMessage>(data);
    if (!msg) return;
    switch (msg.type) {
      case 'auth-ok':
        this.connection.setPingInterval(msg.pingInterval);
        this.set({ state: 'joining' });
        this.send(this.join);
        break;
      case 'registered':
      case 'subscribed':
        if (msg.streamId !== this.join.streamId) break;
        this.connection.markReady();
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
    if (this.connection.isCurrent(gen)) this.emit(msg);
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

  /** Terminal: stop and say why. */
  private finish(reason: RelayClosedReason, message?: string): void {
    this.connection.stop(reason);
    this.set({ state: 'closed', closedReason: reason, message: message ?? CLOSED_MESSAGES[reason], nextRetryAt: null });
  }
}
