/**
 * The real-time state the pages subscribe to (via useSyncExternalStore).
 *
 * Hub events are queued and applied in one batch per animation frame, so a burst of
 * updates renders once. Status changes (camera status, connection, health, new alerts)
 * are committed on the next frame; counters (unread count) and stats at most every
 * `slowIntervalMs` (500 ms). User actions (mark read, clear) commit synchronously.
 */
import type { Alert, CameraStatus, StreamStatus, StreamStats, SystemHealth } from '../api/types';
import type { AlertHubMessage, ServerEvent } from './protocol';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline';

export interface CameraLive {
  status: CameraStatus;
  errorCode: string | null;
  details: string | null;
  attempt: number | null;
  /** Server timestamp of the event (ISO), when given. */
  timestamp: string | null;
  /** The worker that reported it (null: not from a worker, or none holds the camera). */
  workerId?: string | null;
}

/** A mobile stream as the hub last reported it (`stream-status-update`). */
export interface StreamLive {
  status: StreamStatus;
  lastSeen: string | null;
  deviceName: string;
  /** Server time of the event (ISO). */
  timestamp: string | null;
}

export interface RealtimeState {
  connection: ConnectionState;
  reconnectAttempt: number;
  /** Epoch ms of the next reconnect attempt while reconnecting/offline. */
  nextRetryAt: number | null;
  cameras: Readonly<Record<string, CameraLive>>;
  streams: Readonly<Record<string, StreamLive>>;
  /** Bumped when a stream appeared or went away elsewhere (refetch the list). */
  streamListVersion: number;
  stats: Readonly<Record<string, StreamStats>>;
  health: SystemHealth | null;
  /** Notification list, newest first. */
  alerts: readonly Alert[];
  readUpTo: string | null;
  readIds: Readonly<Record<string, true>>;
  clearedUpTo: string | null;
  unreadCount: number;
  /** Bumped whenever the camera list may have changed elsewhere (refetch it). */
  cameraListVersion: number;
  lastAlertId: string | null;
}

export interface BatchInfo {
  events: readonly ServerEvent[];
  /** Alerts that were not known before this batch (for toasts and sound). */
  newAlerts: readonly Alert[];
  /** Cameras whose status changed in this batch. */
  statusChanged: readonly string[];
}

type Action =
  | { kind: 'event'; event: ServerEvent }
  | { kind: 'connection'; state: ConnectionState; attempt: number; nextRetryAt: number | null }
  | { kind: 'resync' };

export interface StoreOptions {
  requestFrame?: (cb: () => void) => unknown;
  now?: () => number;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  storage?: Storage | null;
  maxAlerts?: number;
  slowIntervalMs?: number;
}

const NOTIF_KEY = 'beholder.notifications';
const MAX_READ_IDS = 500;

export function isUnread(s: Pick<RealtimeState, 'readUpTo' | 'readIds'>, a: Alert): boolean {
  if (s.readIds[a.id]) return false;
  if (a.acknowledgedAt) return false;
  return !s.readUpTo || a.createdAt > s.readUpTo;
}

function countUnread(s: Pick<RealtimeState, 'readUpTo' | 'readIds' | 'alerts'>): number {
  let n = 0;
  for (const a of s.alerts) if (isUnread(s, a)) n++;
  return n;
}

/** The alert of an alert message: its own type travels as `alertType` (`type` is the
 * message type). */
function alertOf(ev: AlertHubMessage): Alert {
  const { type: _msgType, alertType, ...rest } = ev;
  void _msgType;
  return { ...rest, type: alertType };
}

function defaultRequestFrame(cb: () => void): unknown {
  // rAF does not run in a background tab; the tab title and toasts must still update.
  if (typeof document !== 'undefined' && document.hidden) return setTimeout(cb, 250);
  if (typeof requestAnimationFrame === 'function') return requestAnimationFrame(() => cb());
  return setTimeout(cb, 16);
}

export class RealtimeStore {
  private state: RealtimeState;
  private readonly listeners = new Set<() => void>();
  private readonly batchListeners = new Set<(b: BatchInfo) => void>();
  private pending: Action[] = [];
  private frameScheduled = false;
  private pendingStats: Record<string, StreamStats> = {};
  private slowDirty = false;
  private lastSlowAt = -Infinity;
  private slowTimer: unknown = null;
  private readonly requestFrame: (cb: () => void) => unknown;
  private readonly now: () => number;
  private readonly setTimer: (cb: () => void, ms: number) => unknown;
  private readonly clearTimer: (h: unknown) => void;
  private readonly storage: Storage | null;
  private readonly maxAlerts: number;
  private readonly slowIntervalMs: number;
  /** Number of commits so far (renders the pages would do); handy for tests and debugging. */
  commits = 0;

  constructor(opts: StoreOptions = {}) {
    this.requestFrame = opts.requestFrame ?? defaultRequestFrame;
    this.now = opts.now ?? (() => Date.now());
    this.setTimer = opts.setTimer ?? ((cb, ms) => setTimeout(cb, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.storage = opts.storage === undefined ? safeStorage() : opts.storage;
    this.maxAlerts = opts.maxAlerts ?? 200;
    this.slowIntervalMs = opts.slowIntervalMs ?? 500;
    const saved = this.loadNotif();
    this.state = {
      connection: 'idle',
      reconnectAttempt: 0,
      nextRetryAt: null,
      cameras: {},
      streams: {},
      streamListVersion: 0,
      stats: {},
      health: null,
      alerts: [],
      readUpTo: saved.readUpTo,
      readIds: saved.readIds,
      clearedUpTo: saved.clearedUpTo,
      unreadCount: 0,
      cameraListVersion: 0,
      lastAlertId: null,
    };
  }

  getState = (): RealtimeState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Called once per applied batch, after the state is committed. */
  onBatch(listener: (b: BatchInfo) => void): () => void {
    this.batchListeners.add(listener);
    return () => this.batchListeners.delete(listener);
  }

  /** Queue a hub event; applied with the others on the next frame. */
  dispatch(event: ServerEvent): void {
    this.enqueue({ kind: 'event', event });
  }

  setConnection(state: ConnectionState, attempt = 0, nextRetryAt: number | null = null): void {
    this.enqueue({ kind: 'connection', state, attempt, nextRetryAt });
  }

  /** After a reconnect: the REST view of cameras may be stale. */
  resync(): void {
    this.enqueue({ kind: 'resync' });
  }

  private enqueue(a: Action): void {
    this.pending.push(a);
    if (!this.frameScheduled) {
      this.frameScheduled = true;
      this.requestFrame(() => this.flush());
    }
  }

  /** Apply everything queued now (normally run by the frame scheduler). */
  flush(): void {
    this.frameScheduled = false;
    const batch = this.pending;
    this.pending = [];
    const events: ServerEvent[] = [];
    const newAlerts: Alert[] = [];
    const statusChanged: string[] = [];
    let s = this.state;
    let next: RealtimeState | null = null;
    const draft = (): RealtimeState => (next ??= { ...s });
    let cameras: Record<string, CameraLive> | null = null;
    let streams: Record<string, StreamLive> | null = null;
    let alerts: Alert[] | null = null;
    let known: Set<string> | null = null;

    for (const a of batch) {
      if (a.kind === 'connection') {
        const d = draft();
        d.connection = a.state;
        d.reconnectAttempt = a.attempt;
        d.nextRetryAt = a.nextRetryAt;
        continue;
      }
      if (a.kind === 'resync') {
        draft().cameraListVersion = (next ?? s).cameraListVersion + 1;
        continue;
      }
      const ev = a.event;
      events.push(ev);
      switch (ev.type) {
        case 'camera-status-update': {
          const e = ev;
          if (!e.cameraId || !e.status) break;
          cameras ??= { ...s.cameras };
          cameras[e.cameraId] = {
            status: e.status,
            errorCode: e.errorCode ?? null,
            details: e.details ?? null,
            attempt: e.attempt ?? null,
            timestamp: e.timestamp ?? null,
            workerId: e.workerId ?? (e.camera as { workerId?: string | null } | null | undefined)?.workerId ?? null,
          };
          statusChanged.push(e.cameraId);
          if (e.stats) {
            this.pendingStats[e.cameraId] = e.stats;
            this.slowDirty = true;
          }
          break;
        }
        case 'stream-status-update': {
          if (!ev.streamId) break;
          streams ??= { ...s.streams };
          if (!streams[ev.streamId]) draft().streamListVersion = (next ?? s).streamListVersion + 1;
          streams[ev.streamId] = { status: ev.status, lastSeen: ev.lastSeen ?? null, deviceName: ev.deviceName, timestamp: ev.timestamp ?? null };
          break;
        }
        case 'alert':
        case 'face-detection-alert': {
          const alert = alertOf(ev);
          if (!alert.id) break;
          draft().lastAlertId = alert.id;
          if (s.clearedUpTo && alert.createdAt <= s.clearedUpTo) break;
          alerts ??= [...s.alerts];
          known ??= new Set(alerts.map((x) => x.id));
          if (known.has(alert.id)) break;
          known.add(alert.id);
          alerts.push(alert);
          newAlerts.push(alert);
          this.slowDirty = true;
          break;
        }
        case 'health-update': {
          const { type: _t, ...h } = ev;
          void _t;
          draft().health = h;
          break;
        }
        case 'camera-stats-update': {
          Object.assign(this.pendingStats, parseStats(ev));
          this.slowDirty = true;
          break;
        }
        default: {
          if (ev.type.startsWith('camera-')) {
            draft().cameraListVersion = (next ?? s).cameraListVersion + 1;
            if (ev.type === 'camera-deleted') {
              cameras ??= { ...s.cameras };
              delete cameras[ev.cameraId];
            }
          }
        }
      }
    }

    if (cameras) draft().cameras = cameras;
    if (streams) draft().streams = streams;
    if (alerts) {
      alerts.sort(newestFirst);
      if (alerts.length > this.maxAlerts) alerts.length = this.maxAlerts;
      draft().alerts = alerts;
    }
    if (next) this.commit(next);
    this.maybeFlushSlow();
    if (events.length || newAlerts.length) {
      const info: BatchInfo = { events, newAlerts, statusChanged };
      for (const l of this.batchListeners) l(info);
    }
  }

  /** Stats and counters: at most once per slowIntervalMs. */
  private maybeFlushSlow(): void {
    if (!this.slowDirty) return;
    const wait = this.lastSlowAt + this.slowIntervalMs - this.now();
    if (wait > 0) {
      if (this.slowTimer === null) {
        this.slowTimer = this.setTimer(() => {
          this.slowTimer = null;
          this.maybeFlushSlow();
        }, wait);
      }
      return;
    }
    this.slowDirty = false;
    this.lastSlowAt = this.now();
    const stats = Object.keys(this.pendingStats).length ? { ...this.state.stats, ...this.pendingStats } : this.state.stats;
    this.pendingStats = {};
    const unreadCount = countUnread(this.state);
    if (stats !== this.state.stats || unreadCount !== this.state.unreadCount) {
      this.commit({ ...this.state, stats, unreadCount });
    }
  }

  /** Merge alerts loaded over REST (history); no toast for these. */
  seedAlerts(items: readonly Alert[]): void {
    const s = this.state;
    const byId = new Map(s.alerts.map((a) => [a.id, a]));
    for (const a of items) {
      if (s.clearedUpTo && a.createdAt <= s.clearedUpTo) continue;
      byId.set(a.id, { ...byId.get(a.id), ...a });
    }
    const alerts = [...byId.values()].sort(newestFirst).slice(0, this.maxAlerts);
    const next = { ...s, alerts, lastAlertId: s.lastAlertId ?? alerts[0]?.id ?? null };
    next.unreadCount = countUnread(next);
    this.commit(next);
  }

  /** An alert changed over REST (e.g. acknowledged here). */
  upsertAlert(a: Alert): void {
    const s = this.state;
    if (!s.alerts.some((x) => x.id === a.id)) return;
    const next = { ...s, alerts: s.alerts.map((x) => (x.id === a.id ? { ...x, ...a } : x)) };
    next.unreadCount = countUnread(next);
    this.commit(next);
  }

  markRead(id: string): void {
    const s = this.state;
    if (s.readIds[id]) return;
    const ids = Object.keys(s.readIds);
    const readIds: Record<string, true> = {};
    for (const k of ids.slice(-MAX_READ_IDS + 1)) readIds[k] = true;
    readIds[id] = true;
    const next = { ...s, readIds };
    next.unreadCount = countUnread(next);
    this.commit(next);
    this.saveNotif();
  }

  markAllRead(): void {
    const s = this.state;
    const newest = s.alerts[0]?.createdAt ?? null;
    const readUpTo = [newest, s.readUpTo, new Date(this.now()).toISOString()].filter(Boolean).sort().pop() ?? null;
    this.commit({ ...s, readUpTo, readIds: {}, unreadCount: 0 });
    this.saveNotif();
  }

  clearAll(): void {
    const s = this.state;
    const newest = s.alerts[0]?.createdAt ?? null;
    const upTo = [newest, s.clearedUpTo, new Date(this.now()).toISOString()].filter(Boolean).sort().pop() ?? null;
    this.commit({ ...s, alerts: [], clearedUpTo: upTo, readUpTo: upTo, readIds: {}, unreadCount: 0 });
    this.saveNotif();
  }

  /** Sign-out: forget everything user-specific that is kept in memory. */
  reset(): void {
    if (this.slowTimer !== null) this.clearTimer(this.slowTimer);
    this.slowTimer = null;
    this.pending = [];
    this.pendingStats = {};
    this.slowDirty = false;
    this.commit({
      ...this.state,
      connection: 'idle',
      reconnectAttempt: 0,
      nextRetryAt: null,
      cameras: {},
      streams: {},
      stats: {},
      alerts: [],
      unreadCount: 0,
      lastAlertId: null,
    });
  }

  private commit(next: RealtimeState): void {
    this.state = next;
    this.commits++;
    for (const l of this.listeners) l();
  }

  private loadNotif(): Pick<RealtimeState, 'readUpTo' | 'readIds' | 'clearedUpTo'> {
    try {
      const raw = this.storage?.getItem(NOTIF_KEY);
      if (raw) {
        const v = JSON.parse(raw) as { readUpTo?: string; clearedUpTo?: string; readIds?: string[] };
        const readIds: Record<string, true> = {};
        for (const id of v.readIds ?? []) readIds[id] = true;
        return { readUpTo: v.readUpTo ?? null, clearedUpTo: v.clearedUpTo ?? null, readIds };
      }
    } catch {
      /* ignore a corrupt entry */
    }
    return { readUpTo: null, clearedUpTo: null, readIds: {} };
  }

  private saveNotif(): void {
    const s = this.state;
    try {
      this.storage?.setItem(
        NOTIF_KEY,
        JSON.stringify({ readUpTo: s.readUpTo, clearedUpTo: s.clearedUpTo, readIds: Object.keys(s.readIds) }),
      );
    } catch {
      /* storage unavailable */
    }
  }
}

function newestFirst(a: Alert, b: Alert): number {
  return a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0;
}

/** The figures of a `camera-stats-update` message: {cameraId, stats} (what the server sends), or
 * the map shapes {cameras: {id: stats}} / {stats: {id: stats}} of other producers. */
export function parseStats(message: unknown): Record<string, StreamStats> {
  const out: Record<string, StreamStats> = {};
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(message)) return out;
  const ev = message;
  if (typeof ev.cameraId === 'string' && isObj(ev.stats)) {
    out[ev.cameraId] = ev.stats as StreamStats;
    return out;
  }
  const map = isObj(ev.cameras) ? ev.cameras : isObj(ev.stats) ? ev.stats : null;
  if (map) for (const [id, v] of Object.entries(map)) if (isObj(v)) out[id] = (isObj(v.stats) ? v.stats : v) as StreamStats;
  return out;
}

function safeStorage(): Storage | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null;
  } catch {
    return null;
  }
}
