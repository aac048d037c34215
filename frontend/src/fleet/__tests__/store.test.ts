import { describe, expect, it } from 'vitest';
import { restAlert } from '../../realtime/__tests__/hubMessages';
import { FleetStore } from '../store';
import { at, cameraUpdate, fleetCamera, nvr, nvrConnectivity, nvrStatus, summary, summaryUpdated } from './fleetMessages';

function setup() {
  const clock = { t: 1_000_000 };
  const timers: { at: number; cb: () => void }[] = [];
  const store = new FleetStore({
    now: () => clock.t,
    setTimer: (cb, ms) => {
      const t = { at: clock.t + ms, cb };
      timers.push(t);
      return t;
    },
    clearTimer: (h) => {
      const i = timers.indexOf(h as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
  });
  const advance = (ms: number) => {
    clock.t += ms;
    for (const t of timers.filter((x) => x.at <= clock.t)) {
      timers.splice(timers.indexOf(t), 1);
      t.cb();
    }
  };
  return { store, clock, timers, advance };
}

describe('FleetStore', () => {
  it('commits an NVR status change with its batch (no wait)', () => {
    const { store } = setup();
    store.apply([nvrStatus(nvr('n1'))]);
    expect(store.getState().nvrs.n1?.status).toBe('online');
    store.apply([nvrStatus(nvr('n1', { status: 'offline', updatedAt: at(5) }))]);
    expect(store.getState().nvrs.n1?.status).toBe('offline');
  });

  it('keeps the newer NVR description when messages arrive out of order', () => {
    const { store } = setup();
    store.apply([nvrStatus(nvr('n1', { status: 'offline', updatedAt: at(5) })), nvrStatus(nvr('n1', { status: 'online', updatedAt: at(1) }))]);
    expect(store.getState().nvrs.n1?.status).toBe('offline');
  });

  it('bumps the list version for an NVR it had not seen and for a deletion', () => {
    const { store } = setup();
    store.apply([nvrStatus(nvr('n1'))]);
    expect(store.getState().listVersion).toBe(1);
    store.apply([nvrStatus(nvr('n1', { updatedAt: at(2) }))]);
    expect(store.getState().listVersion).toBe(1);
    store.apply([{ type: 'nvr_deleted', nvrId: 'n1', timestamp: at(3) }]);
    expect(store.getState().listVersion).toBe(2);
    expect(store.getState().nvrs.n1).toBeUndefined();
  });

  it('passes summaries on at most every 500 ms, the latest one winning', () => {
    const { store, advance } = setup();
    store.apply([summaryUpdated(summary(1, 0))]);
    expect(store.getState().summary?.cameras.offline).toBe(0);
    const commits = store.commits;
    for (let i = 1; i <= 10; i++) {
      advance(40);
      store.apply([summaryUpdated(summary(1 + i, i))]);
    }
    expect(store.getState().summary?.cameras.offline).toBe(0); // 400 ms: not yet
    expect(store.commits).toBe(commits);
    advance(100);
    expect(store.getState().summary?.cameras.offline).toBe(10);
    expect(store.commits).toBe(commits + 1);
  });

  it('ignores a summary older than the one it has (a slow REST answer after a push)', () => {
    const { store, advance } = setup();
    store.apply([summaryUpdated(summary(10, 3))]);
    advance(600);
    store.offerSummary(summary(5, 0));
    advance(600);
    expect(store.getState().summary?.cameras.offline).toBe(3);
  });

  it('records NVR events, camera reachability changes and alerts, newest first, capped', () => {
    const { store, advance } = setup();
    const cam = fleetCamera('c1', 'online');
    store.apply([cameraUpdate(cam, 0)]); // first sight: no event
    store.apply([nvrConnectivity('n1', false, 16, 1)]);
    store.apply([cameraUpdate({ ...cam, reachability: 'offline', reachabilityDetail: 'timeout' }, 2)], [restAlert({ id: 'a1', createdAt: at(3), message: 'Camera offline' })]);
    advance(600);
    const ev = store.getState().events;
    expect(ev.map((e) => e.kind)).toEqual(['alert', 'camera-offline', 'nvr-offline']);
    expect(ev[2]!.title).toBe('NVR Recorder n1 offline');
    expect(ev[2]!.detail).toMatch(/^16 cameras affected/);
  });

  it('folds cameras that went offline with their NVR into the NVR event', () => {
    const { store, advance } = setup();
    const cams = [1, 2, 3].map((i) => fleetCamera(`c${i}`, 'online'));
    store.apply(cams.map((c) => cameraUpdate(c)));
    store.apply([nvrConnectivity('n1', false, 3, 1), ...cams.map((c) => cameraUpdate({ ...c, reachability: 'offline', reachabilityDetail: 'NVR offline' }, 1))]);
    advance(600);
    expect(store.getState().events.map((e) => e.kind)).toEqual(['nvr-offline']);
    // …and coming back with it
    store.apply([nvrConnectivity('n1', true, 3, 2), ...cams.map((c) => cameraUpdate({ ...c, reachability: 'online', reachabilityDetail: null }, 2))]);
    advance(600);
    expect(store.getState().events.map((e) => e.kind)).toEqual(['nvr-online', 'nvr-offline']);
  });

  it('updates a known NVR on nvr_offline before its full description arrives', () => {
    const { store } = setup();
    store.apply([nvrStatus(nvr('n1'))]);
    store.apply([nvrConnectivity('n1', false, 4, 1)]);
    expect(store.getState().nvrs.n1?.status).toBe('offline');
  });
});

describe('system alerts reach the notification list', () => {
  it('takes `alert` messages (system-alert, NVR offline) like face alerts', async () => {
    const { RealtimeStore } = await import('../../realtime/store');
    const { alertMessage } = await import('../../realtime/__tests__/hubMessages');
    const rt = new RealtimeStore({ requestFrame: () => undefined, storage: null });
    const seen: string[] = [];
    rt.onBatch((b) => seen.push(...b.newAlerts.map((a) => `${a.type}:${a.id}`)));
    rt.dispatch(alertMessage('s1', 1, 'cam-1', { type: 'alert', alertType: 'system-alert', nvrId: 'n1', cameraId: null, message: 'NVR offline' }));
    rt.flush();
    expect(seen).toEqual(['system-alert:s1']);
    expect(rt.getState().alerts[0]?.message).toBe('NVR offline');
  });
});

describe('withAlerts', () => {
  it('adds the notification list’s alerts to the events, newest first, each once', async () => {
    const { withAlerts, alertEvent } = await import('../store');
    const a1 = restAlert({ id: 'a1', createdAt: at(1), message: 'old' });
    const a2 = restAlert({ id: 'a2', createdAt: at(9), message: 'new' });
    const merged = withAlerts([alertEvent(a2)], [a2, a1]);
    expect(merged.map((e) => e.key)).toEqual(['alert:a2', 'alert:a1']);
  });
});
