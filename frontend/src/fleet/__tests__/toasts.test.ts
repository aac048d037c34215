import { describe, expect, it } from 'vitest';
import { fallbackState, cameBack } from '../polling';
import { toastsFor } from '../toasts';
import { nvrConnectivity } from './fleetMessages';

describe('toastsFor', () => {
  it('names the NVR and the cameras affected, one toast per NVR', () => {
    const t = toastsFor([nvrConnectivity('n1', false, 16)]);
    expect(t).toEqual([expect.objectContaining({ id: 'nvr-n1', kind: 'error', title: 'NVR Recorder n1 offline', description: '16 cameras affected · north', sound: true, sticky: true })]);
    const back = toastsFor([nvrConnectivity('n1', true, 1)]);
    expect(back[0]).toMatchObject({ id: 'nvr-n1', kind: 'success', title: 'NVR Recorder n1 back online', description: '1 camera back · north', sound: false, sticky: false });
  });

  it('keeps only the last word per NVR inside one batch', () => {
    const t = toastsFor([nvrConnectivity('n1', false, 4), nvrConnectivity('n1', true, 4)]);
    expect(t.map((x) => x.title)).toEqual(['NVR Recorder n1 back online']);
  });

  it('groups a site-wide outage into one toast', () => {
    const t = toastsFor(['a', 'b', 'c', 'd', 'e'].map((id) => nvrConnectivity(id, false, 8)));
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({ title: '5 NVRs offline', description: '40 cameras affected', nvrId: null, sound: true, sticky: false });
  });

  it('ignores other messages', () => {
    expect(toastsFor([{ type: 'nvr_deleted', nvrId: 'x', timestamp: '2030-01-01T00:00:00Z' }])).toEqual([]);
  });
});

describe('fallback polling', () => {
  it('polls every 10 s and says so only while the socket is down', () => {
    expect(fallbackState('connected')).toEqual({ polling: false, refetchInterval: false, notice: null });
    expect(fallbackState('connecting').polling).toBe(false);
    for (const c of ['reconnecting', 'offline'] as const) {
      const s = fallbackState(c);
      expect(s.polling).toBe(true);
      expect(s.refetchInterval).toBe(10_000);
      expect(s.notice).toMatch(/every 10 s/);
    }
  });

  it('resynchronises each time the socket (re)connects while the page is open', () => {
    expect(cameBack(null, 'connected')).toBe(false);
    expect(cameBack('connecting', 'connected')).toBe(true);
    expect(cameBack('reconnecting', 'connected')).toBe(true);
    expect(cameBack('connected', 'connected')).toBe(false);
    expect(cameBack('connected', 'reconnecting')).toBe(false);
  });
});
