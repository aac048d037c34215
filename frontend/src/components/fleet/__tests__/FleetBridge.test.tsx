import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, render } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';

const toasts = vi.hoisted(() => ({ error: [] as string[], success: [] as string[], durations: [] as (number | undefined)[] }));
vi.mock('sonner', () => {
  const t = Object.assign(() => undefined, {
    error: (title: string, o?: { duration?: number }) => void (toasts.error.push(title), toasts.durations.push(o?.duration)),
    success: (title: string, o?: { duration?: number }) => void (toasts.success.push(title), toasts.durations.push(o?.duration)),
  });
  return { toast: t };
});
const chime = vi.hoisted(() => ({ n: 0 }));
vi.mock('../../../lib/sound', () => ({ playChime: () => void chime.n++ }));

import { fleetKeys, fleetStore } from '../../../fleet';
import { nvrConnectivity } from '../../../fleet/__tests__/fleetMessages';
import { setPrefs } from '../../../lib/prefs';
import { realtimeStore } from '../../../realtime';
import { FleetBridge } from '../FleetBridge';

afterEach(cleanup);

function mount() {
  const qc = new QueryClient();
  const invalidate = vi.spyOn(qc, 'invalidateQueries');
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter>
        <FleetBridge />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { qc, invalidate };
}

async function hub(fn: () => void) {
  await act(async () => {
    fn();
    realtimeStore.flush();
  });
}

describe('FleetBridge', () => {
  it('toasts an NVR going offline with its cameras, with the chime when sound is on', async () => {
    setPrefs({ sound: true });
    mount();
    await hub(() => realtimeStore.dispatch(nvrConnectivity('n1', false, 16)));
    expect(toasts.error).toEqual(['NVR Recorder n1 offline']);
    expect(chime.n).toBe(1);
    await hub(() => realtimeStore.dispatch(nvrConnectivity('n1', true, 16, 5)));
    expect(toasts.success).toEqual(['NVR Recorder n1 back online']);
    // the offline toast stays while the NVR is down; the back-online one (same id) times out
    expect(toasts.durations).toEqual([Number.POSITIVE_INFINITY, undefined]);
    expect(chime.n).toBe(1); // coming back is good news: no sound
    setPrefs({ sound: false });
  });

  it('feeds the fleet store and refetches the fleet when the socket comes back', async () => {
    const { invalidate } = mount();
    await hub(() => realtimeStore.setConnection('connected'));
    invalidate.mockClear();
    await hub(() => realtimeStore.setConnection('reconnecting', 1));
    expect(invalidate).not.toHaveBeenCalled();
    await hub(() => realtimeStore.setConnection('connected'));
    const keys = invalidate.mock.calls.map((c) => JSON.stringify(c[0]?.queryKey));
    expect(keys).toContain(JSON.stringify(fleetKeys.nvrs));
    expect(keys).toContain(JSON.stringify(fleetKeys.summary));
    await hub(() => realtimeStore.dispatch(nvrConnectivity('n9', false, 2)));
    // the events list commits at most every 500 ms
    await vi.waitFor(() => expect(fleetStore.getState().events.some((e) => e.nvrId === 'n9' && e.kind === 'nvr-offline')).toBe(true), { timeout: 3000 });
  });
});
