/**
 * The fleet's real-time state (NVRs, summary statistics, recent events), fed by the hub
 * batches of the shared real-time store (one batch per animation frame).
 *
 * NVR status changes commit with the batch that carried them (rendered on the next frame);
 * the summary counters and the recent-events list commit at most every `slowIntervalMs`
 * (500 ms, the plan's figure). Timers and the clock are injectable for the tests.
 */
import type { Alert } from '../api/types';
import type { ServerEvent } from '../realtime/protocol';
import type { FleetCamera, Nvr, NvrOnlineOffline, SummaryStats } from './types';

const NVR_OFFLINE = /nvr offline/i;

export type FleetEventKind = 'nvr-online' | 'nvr-offline' | 'camera-online' | 'camera-offline' | 'alert';

export interface FleetEvent {
  /** Stable key for lists. */
  key: string;
  kind: FleetEventKind;
  /** ISO time of the event (server time when given). */
  at: string;
  title: string;
  detail: string | null;
  nvrId: string | null;
  cameraId: string | null;
  severity: Alert['severity'] | null;
}

export interface FleetState {
  /** NVRs as the hub last described them (full NvrOut), by id. */
  nvrs: Readonly<Record<string, Nvr>>;
  /** The latest summary (hub or REST, whichever is newer). */
  summary: SummaryStats | null;
  /** Epoch ms of the last change applied (the page's "last update"). */
  lastUpdate: number | null;
  /** Recent NVR/camera status changes and alerts, newest first. */
  events: readonly FleetEvent[];
  /** Bumped when an NVR this tab has not listed appears (refetch the lists). */
  listVersion: number;
  /** Cameras as the hub last described them (reachability included), by id: rows read
   * their own entry, so a status change re-renders one row, not the whole list. */
  cameras: Readonly<Record<string, FleetCamera>>;
}

export interface FleetStoreOptions {
  now?: () => number;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  slowIntervalMs?: number;
  maxEvents?: number;
}

function nvrLabel(n: { deviceName?: string | null; hostname: string }): string {
  return n.deviceName || n.hostname;
}

function cameraEvent(cam: FleetCamera, at: string): FleetEvent | null {
  const r = cam.reachability;
  if (r !== 'online' && r !== 'offline') return null;
  return {
    key: `cam:${cam.id}:${r}:${at}`,
    kind: r === 'online' ? 'camera-online' : 'camera-offline',
    at,
    title: `${cam.name} ${r}`,
    detail: cam.reachabilityDetail ?? null,
    nvrId: cam.nvrId ?? null,
    cameraId: cam.id,
    severity: null,
  };
}

function nvrEvent(ev: NvrOnlineOffline): FleetEvent {
  const online = ev.type === 'nvr_online';
  const n = ev.camerasUpdated;
  return {
    key: `nvr:${ev.nvrId}:${ev.type}:${ev.timestamp}`,
    kind: online ? 'nvr-online' : 'nvr-offline',
    at: ev.timestamp,
    title: `NVR ${nvrLabel(ev)} ${online ? 'online' : 'offline'}`,
    detail: `${n} camera${n === 1 ? '' : 's'} ${online ? 'back' : 'affected'}${ev.region ? ` · ${ev.region}` : ''}`,
    nvrId: ev.nvrId,
    cameraId: null,
    severity: online ? null : 'high',
  };
}

export function alertEvent(a: Alert): FleetEvent {
  return {
    key: `alert:${a.id}`,
    kind: 'alert',
    at: a.createdAt,
    title: a.message || a.type,
    detail: a.type,
    nvrId: a.nvrId ?? null,
    cameraId: a.cameraId ?? null,
    severity: a.severity,
  };
}

export class FleetStore {
  private state: FleetState = { nvrs: {}, summary: null, lastUpdate: null, events: [], listVersion: 0, cameras: {} };
  private readonly listeners = new Set<() => void>();
  private pendingSummary: SummaryStats | null = null;
  private pendingEvents: FleetEvent[] = [];
  private lastSlowAt = -Infinity;
  private slowTimer: unknown = null;
  /** Last reachability seen per camera: an event only when it changes. */
  private readonly reach = new Map<string, { r: string; withNvr: boolean }>();
  private readonly now: () => number;
  private readonly setTimer: (cb: () => void, ms: number) => unknown;
  private readonly clearTimer: (h: unknown) => void;
  private readonly slowIntervalMs: number;
  private readonly maxEvents: number;
  commits = 0;

  constructor(opts: FleetStoreOptions = {}) {
    this.now = opts.now ?? (() => Date.now());
    this.setTimer = opts.setTimer ?? ((cb, ms) => setTimeout(cb, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.slowIntervalMs = opts.slowIntervalMs ?? 500;
    this.maxEvents = opts.maxEvents ?? 50;
  }

  getState = (): FleetState => this.state;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  /** One hub batch (already in arrival order) and the alerts new in it. */
  apply(events: readonly ServerEvent[], newAlerts: readonly Alert[] = []): void {
    let nvrs: Record<string, Nvr> | null = null;
    let cameras: Record<string, FleetCamera> | null = null;
    let listVersion = this.state.listVersion;
    const draft = () => (nvrs ??= { ...this.state.nvrs });
    for (const ev of events) {
      switch (ev.type) {
        case 'nvr_status_update': {
          const n = ev.nvr;
          const prev = (nvrs ?? this.state.nvrs)[n.id];
          if (!prev) listVersion++;
          // Out-of-order delivery: keep the newer description.
          if (prev && prev.updatedAt > n.updatedAt) break;
          draft()[n.id] = n;
          break;
        }
        case 'nvr_online':
        case 'nvr_offline': {
          this.pendingEvents.push(nvrEvent(ev));
          const prev = (nvrs ?? this.state.nvrs)[ev.nvrId];
          if (prev) draft()[ev.nvrId] = { ...prev, status: ev.type === 'nvr_online' ? 'online' : 'offline' };
          break;
        }
        case 'nvr_deleted': {
          if (ev.nvrId in (nvrs ?? this.state.nvrs)) delete draft()[ev.nvrId];
          listVersion++;
          break;
        }
        case 'stats:updated':
          this.offerSummary(ev.summary);
          break;
        case 'camera-status-update': {
          const cam = ev.camera;
          if (!cam) break;
          (cameras ??= { ...this.state.cameras })[cam.id] = cam;
          if (!cam.reachability) break;
          const before = this.reach.get(cam.id);
          const withNvr = NVR_OFFLINE.test(cam.reachabilityDetail ?? '');
          this.reach.set(cam.id, { r: cam.reachability, withNvr });
          // A camera that went (or came back) with its NVR is told by the NVR's event, not
          // once per camera.
          if (before === undefined || before.r === cam.reachability) break;
          if (withNvr || (before.withNvr && cam.reachability === 'online')) break;
          const e = cameraEvent(cam, ev.timestamp ?? new Date(this.now()).toISOString());
          if (e) this.pendingEvents.push(e);
          break;
        }
        default:
          break;
      }
    }
    for (const a of newAlerts) this.pendingEvents.push(alertEvent(a));
    if (nvrs || cameras || listVersion !== this.state.listVersion) {
      this.commit({ ...this.state, nvrs: nvrs ?? this.state.nvrs, cameras: cameras ?? this.state.cameras, listVersion, lastUpdate: this.now() });
    }
    this.maybeFlushSlow();
  }

  /** A summary from REST (or the hub): kept when it is newer than the one shown. */
  offerSummary(s: SummaryStats): void {
    const cur = this.pendingSummary ?? this.state.summary;
    if (cur && cur.timestamp > s.timestamp) return;
    this.pendingSummary = s;
    this.maybeFlushSlow();
  }

  /** NVRs the REST list returned: the hub's newer descriptions stay, older ones go. */
  seedNvrs(items: readonly Nvr[]): void {
    let changed = false;
    const nvrs = { ...this.state.nvrs };
    for (const n of items) {
      const live = nvrs[n.id];
      if (live && live.updatedAt > n.updatedAt) continue;
      if (live) {
        delete nvrs[n.id];
        changed = true;
      }
    }
    if (changed) this.commit({ ...this.state, nvrs });
  }

  /** Sign-out. */
  reset(): void {
    if (this.slowTimer !== null) this.clearTimer(this.slowTimer);
    this.slowTimer = null;
    this.pendingSummary = null;
    this.pendingEvents = [];
    this.reach.clear();
    this.commit({ nvrs: {}, summary: null, lastUpdate: null, events: [], listVersion: this.state.listVersion + 1, cameras: {} });
  }

  private maybeFlushSlow(): void {
    if (!this.pendingSummary && !this.pendingEvents.length) return;
    const wait = this.lastSlowAt + this.slowIntervalMs - this.now();
    if (wait > 0) {
      this.slowTimer ??= this.setTimer(() => {
        this.slowTimer = null;
        this.maybeFlushSlow();
      }, wait);
      return;
    }
    this.lastSlowAt = this.now();
    const next = { ...this.state, lastUpdate: this.now() };
    if (this.pendingSummary) next.summary = this.pendingSummary;
    if (this.pendingEvents.length) {
      const fresh = this.pendingEvents.reverse();
      const seen = new Set(fresh.map((e) => e.key));
      next.events = [...fresh, ...this.state.events.filter((e) => !seen.has(e.key))]
        .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
        .slice(0, this.maxEvents);
    }
    this.pendingSummary = null;
    this.pendingEvents = [];
    this.commit(next);
  }

  private commit(next: FleetState): void {
    this.state = next;
    this.commits++;
    for (const l of this.listeners) l();
  }
}

/** The store's events with the alerts the notification list already holds (loaded over
 * REST at sign-in), newest first, each once: the list is not empty on a fresh page. */
export function withAlerts(events: readonly FleetEvent[], alerts: readonly Alert[], max = 50): FleetEvent[] {
  const seen = new Set(events.map((e) => e.key));
  const out = [...events];
  for (const a of alerts) {
    const e = alertEvent(a);
    if (!seen.has(e.key)) out.push(e);
  }
  return out.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, max);
}
