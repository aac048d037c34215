import { describe, expect, it, vi } from 'vitest';
import { RealtimeStore, parseStats } from '../store';
import { OfflineQueue, SupersededError } from '../offlineQueue';
import { alertMessage, healthUpdate, restAlert, serviceHealth, statsUpdated, statusUpdate, systemHealth, unknownMessage } from './hubMessages';

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, v),
  };
}

function setup(now = { t: 1_000_000 }, storage: Storage | null = null) {
  const frames: (() => void)[] = [];
  const timers: { at: number; cb: () => void }[] = [];
  const store = new RealtimeStore({
    requestFrame: (cb) => frames.push(cb),
    now: () => now.t,
    setTimer: (cb, ms) => {
      const t = { at: now.t + ms, cb };
      timers.push(t);
      return t;
    },
    clearTimer: (h) => {
      const i = timers.indexOf(h as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
    storage,
  });
  const frame = () => {
    const f = frames.splice(0);
    f.forEach((cb) => cb());
  };
  const advance = (ms: number) => {
    now.t += ms;
    for (const t of timers.filter((x) => x.at <= now.t)) {
      timers.splice(timers.indexOf(t), 1);
      t.cb();
    }
  };
  return { store, frames, frame, advance, now };
}

const alert = alertMessage;

describe('RealtimeStore batching', () => {
  it('a burst of events renders once, on the next animation frame', () => {
    const { store, frames, frame } = setup();
    const listener = vi.fn();
    store.subscribe(listener);
    for (let i = 0; i < 200; i++) {
      store.dispatch(statusUpdate(`c${i % 10}`, i % 2 ? 'PROCESSING' : 'CONNECTING', { attempt: i }));
    }
    expect(frames).toHaveLength(1); // one frame requested for the whole burst
    expect(listener).not.toHaveBeenCalled();
    expect(store.getState().cameras).toEqual({});
    frame();
    expect(listener).toHaveBeenCalledTimes(1);
    expect(Object.keys(store.getState().cameras)).toHaveLength(10);
    expect(store.getState().cameras.c9).toMatchObject({ status: 'PROCESSING', attempt: 199 });
  });

  it('status changes commit on the next frame; stats at most every 500 ms', () => {
    const { store, frame, advance } = setup();
    store.dispatch(statusUpdate('a', 'PROCESSING', { stats: { inputFps: 25 } }));
    frame();
    expect(store.getState().cameras.a?.status).toBe('PROCESSING');
    expect(store.getState().stats.a?.inputFps).toBe(25); // first slow commit is immediate

    const commitsBefore = store.commits;
    for (let i = 1; i <= 10; i++) {
      advance(40);
      store.dispatch(statsUpdated('a', { inputFps: 25 + i }));
      frame();
    }
    // 400 ms later: stats are not committed yet, no render was spent on them.
    expect(store.getState().stats.a?.inputFps).toBe(25);
    expect(store.commits).toBe(commitsBefore);
    advance(100);
    expect(store.getState().stats.a?.inputFps).toBe(35);
    expect(store.commits).toBe(commitsBefore + 1);

    // A status change in the meantime still renders at once.
    advance(10);
    store.dispatch(statusUpdate('a', 'ERROR', { details: 'Camera unreachable' }));
    store.dispatch(statsUpdated('a', { inputFps: 0 }));
    frame();
    expect(store.getState().cameras.a).toMatchObject({ status: 'ERROR', details: 'Camera unreachable' });
    expect(store.getState().stats.a?.inputFps).toBe(35);
    advance(500);
    expect(store.getState().stats.a?.inputFps).toBe(0);
  });

  it('unread counter updates at most every 500 ms during an alert burst', () => {
    const { store, frame, advance } = setup();
    store.dispatch(alert('a1', 1));
    frame();
    expect(store.getState().alerts).toHaveLength(1);
    expect(store.getState().unreadCount).toBe(1);
    for (let i = 2; i <= 6; i++) {
      advance(50);
      store.dispatch(alert(`a${i}`, i));
      frame();
    }
    expect(store.getState().alerts).toHaveLength(6); // the list itself is current
    expect(store.getState().unreadCount).toBe(1); // the counter waits
    advance(300);
    expect(store.getState().unreadCount).toBe(6);
  });

  it('connection state and health are status: next frame', () => {
    const { store, frame } = setup();
    store.setConnection('reconnecting', 2, 123);
    const health = systemHealth('DEGRADED', { database: serviceHealth('database', 'HEALTHY') });
    store.dispatch(healthUpdate(health));
    frame();
    expect(store.getState()).toMatchObject({ connection: 'reconnecting', reconnectAttempt: 2, nextRetryAt: 123 });
    expect(store.getState().health).toEqual({ ...health, version: null });
    expect(store.getState().health).toMatchObject({ status: 'DEGRADED', services: { database: { status: 'HEALTHY' } } });
  });

  it('onBatch reports the new alerts of the batch once', () => {
    const { store, frame } = setup();
    const batches: string[][] = [];
    store.onBatch((b) => batches.push(b.newAlerts.map((a) => a.id)));
    store.dispatch(alert('a1', 1));
    store.dispatch(alert('a2', 2));
    store.dispatch(alert('a1', 1)); // duplicate (replay)
    frame();
    store.dispatch(alert('a2', 2));
    frame();
    expect(batches).toEqual([['a1', 'a2'], []]);
  });
});

describe('RealtimeStore notifications', () => {
  it('keeps alerts newest first, deduplicated, with the alert type restored', () => {
    const { store, frame } = setup();
    store.seedAlerts([
      restAlert({ id: 'h1', cameraId: 'c', type: 'face-detection', severity: 'low', message: 'old', createdAt: '2030-01-01T00:00:00.000Z' }),
    ]);
    store.dispatch(alert('a3', 3));
    store.dispatch(alert('a1', 1));
    store.dispatch(alert('a2', 2));
    frame();
    const s = store.getState();
    expect(s.alerts.map((a) => a.id)).toEqual(['a3', 'a2', 'a1', 'h1']);
    expect(s.alerts[0]?.type).toBe('face-detection');
    expect(s.lastAlertId).toBe('a2');
  });

  it('mark all read, mark one read, clear all — persisted in storage', () => {
    const storage = memoryStorage();
    const now = { t: Date.parse('2030-01-01T00:01:00Z') };
    const { store, frame, advance } = setup(now, storage);
    store.dispatch(alert('a1', 1));
    store.dispatch(alert('a2', 2));
    frame();
    advance(500);
    expect(store.getState().unreadCount).toBe(2);
    store.markRead('a1');
    expect(store.getState().unreadCount).toBe(1);
    store.markAllRead();
    expect(store.getState().unreadCount).toBe(0);

    // A new store (page reload) remembers what was read and what was cleared.
    const again = setup(now, storage).store;
    again.seedAlerts([restAlert({ id: 'a1', type: 'face-detection', severity: 'low', message: 'x', createdAt: '2030-01-01T00:00:01.000Z' })]);
    expect(again.getState().unreadCount).toBe(0);

    store.clearAll();
    expect(store.getState().alerts).toEqual([]);
    const third = setup(now, storage).store;
    third.seedAlerts([restAlert({ id: 'a1', type: 'face-detection', severity: 'low', message: 'x', createdAt: '2030-01-01T00:00:01.000Z' })]);
    expect(third.getState().alerts).toEqual([]);
  });

  it('an acknowledged alert is not unread', () => {
    const { store } = setup();
    store.seedAlerts([
      restAlert({ id: 'x', type: 'face-detection', severity: 'low', message: 'x', createdAt: '2030-01-01T00:00:01.000Z', acknowledgedAt: '2030-01-01T00:00:02.000Z' }),
      restAlert({ id: 'y', type: 'face-detection', severity: 'low', message: 'y', createdAt: '2030-01-01T00:00:03.000Z' }),
    ]);
    expect(store.getState().unreadCount).toBe(1);
    store.upsertAlert(restAlert({ id: 'y', type: 'face-detection', severity: 'low', message: 'y', createdAt: '2030-01-01T00:00:03.000Z', acknowledgedAt: '2030-01-01T00:00:04.000Z' }));
    expect(store.getState().unreadCount).toBe(0);
  });

  it('camera-* list events bump the list version; camera-deleted drops the overlay', () => {
    const { store, frame } = setup();
    store.dispatch(statusUpdate('c1', 'PROCESSING'));
    frame();
    const v = store.getState().cameraListVersion;
    store.dispatch(unknownMessage({ type: 'camera-created', cameraId: 'c2' }));
    store.dispatch({ type: 'camera-deleted', cameraId: 'c1', timestamp: '2030-01-01T00:00:00.000Z' });
    frame();
    expect(store.getState().cameraListVersion).toBe(v + 2);
    expect(store.getState().cameras.c1).toBeUndefined();
  });
});

describe('parseStats', () => {
  it('accepts the per-camera and the map shapes', () => {
    expect(parseStats({ cameraId: 'a', stats: { inputFps: 1 } })).toEqual({ a: { inputFps: 1 } });
    expect(parseStats({ cameras: { a: { inputFps: 1 }, b: { stats: { inputFps: 2 } } } })).toEqual({ a: { inputFps: 1 }, b: { inputFps: 2 } });
    expect(parseStats({ stats: { a: { inputFps: 3 } } })).toEqual({ a: { inputFps: 3 } });
  });
});

describe('OfflineQueue', () => {
  it('runs at once when online', async () => {
    const q = new OfflineQueue({ isOnline: () => true });
    await expect(q.run('k', 'Start', async () => 42)).resolves.toBe(42);
    expect(q.getSnapshot()).toEqual([]);
  });

  it('queues while offline, last intent per key wins, flushes in order', async () => {
    let online = false;
    const q = new OfflineQueue({ isOnline: () => online });
    const ran: string[] = [];
    const onQueued = vi.fn();
    const stop = q.run('cam-1:power', 'Stop camera 1', async () => ran.push('stop'), onQueued);
    const start = q.run('cam-1:power', 'Start camera 1', async () => ran.push('start'), onQueued);
    const face = q.run('cam-2:face', 'Face detection on camera 2', async () => ran.push('face'), onQueued);
    expect(onQueued).toHaveBeenCalledTimes(3);
    await expect(stop).rejects.toBeInstanceOf(SupersededError);
    expect(q.getSnapshot().map((a) => a.label)).toEqual(['Start camera 1', 'Face detection on camera 2']);
    online = true;
    await q.flush();
    await Promise.all([start, face]);
    expect(ran).toEqual(['start', 'face']);
    expect(q.getSnapshot()).toEqual([]);
  });

  it('queues an action whose request could not reach the server, and retries it', async () => {
    const q = new OfflineQueue({ isOnline: () => true });
    let fail = true;
    const p = q.run('k', 'Acknowledge', async () => {
      if (fail) throw Object.assign(new Error('offline'), { status: 0 });
      return 'done';
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(q.getSnapshot()).toHaveLength(1);
    await q.flush(); // still failing: stays queued
    expect(q.getSnapshot()).toHaveLength(1);
    fail = false;
    await q.flush();
    await expect(p).resolves.toBe('done');
  });

  it('a refusal (not a network error) is reported, not queued', async () => {
    const q = new OfflineQueue({ isOnline: () => true });
    const err = Object.assign(new Error('You do not have permission'), { status: 403 });
    await expect(q.run('k', 'Start', async () => Promise.reject(err))).rejects.toBe(err);
    expect(q.getSnapshot()).toEqual([]);
  });
});

describe('hub alert messages', () => {
  it('restore the alert type from alertType', () => {
    const { store, frame } = setup();
    store.dispatch(alert('s1', 1, 'cam-1', { alertType: 'stream-error' }));
    frame();
    expect(store.getState().alerts[0]?.type).toBe('stream-error');
  });
});

describe('RealtimeStore: mobile streams', () => {
  const streamStatus = (streamId: string, status: 'offline' | 'online' | 'streaming', sec: number) => ({
    type: 'stream-status-update' as const,
    streamId,
    status,
    lastSeen: status === 'offline' ? `2030-01-01T00:00:${String(sec).padStart(2, '0')}.000Z` : null,
    deviceName: 'Pixel',
    timestamp: `2030-01-01T00:00:${String(sec).padStart(2, '0')}.000Z`,
  });

  it('keeps the latest status per stream and asks for the list when a new stream shows up', () => {
    const { store, frame } = setup();
    store.dispatch(streamStatus('s1', 'online', 1));
    store.dispatch(streamStatus('s1', 'streaming', 2));
    frame();
    expect(store.getState().streams.s1).toMatchObject({ status: 'streaming', lastSeen: null });
    expect(store.getState().streamListVersion).toBe(1);
    store.dispatch(streamStatus('s1', 'offline', 3));
    frame();
    expect(store.getState().streams.s1).toMatchObject({ status: 'offline', lastSeen: '2030-01-01T00:00:03.000Z' });
    expect(store.getState().streamListVersion).toBe(1);
    store.reset();
    expect(store.getState().streams).toEqual({});
  });

  it('takes stream alerts sent as `alert` (ml-alert) into the notification list', () => {
    const { store, frame } = setup();
    store.dispatch(alert('m1', 4, 'ignored', { type: 'alert', cameraId: null, streamId: 's1', metadata: { deviceName: 'Pixel' } }));
    frame();
    expect(store.getState().alerts.map((a) => [a.id, a.streamId, a.cameraId])).toEqual([['m1', 's1', null]]);
  });
});
