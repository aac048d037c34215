import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Toaster } from 'sonner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Camera, Page } from '../../api/types';
import { camerasKey } from '../../lib/cameras';
import { setPrefs } from '../../lib/prefs';
import { ui, useUi } from '../../lib/ui';
import { realtime, realtimeStore } from '../../realtime';
import { alertMessage, statusUpdate } from '../../realtime/__tests__/hubMessages';
import { alert, camera, fakeNetwork, newQueryClient, signIn, signOutLocally } from '../../test/components';
import { RealtimeBridge } from '../RealtimeBridge';

beforeEach(() => {
  signIn();
  vi.spyOn(realtime, 'start').mockImplementation(() => undefined);
  vi.spyOn(realtime, 'stop').mockImplementation(() => undefined);
});
afterEach(() => {
  cleanup();
  act(() => {
    realtimeStore.reset();
    ui.closeNotifications();
  });
  signOutLocally();
  setPrefs({ sound: false });
  vi.unstubAllGlobals();
});

function PanelState() {
  return <p data-testid="panel">{useUi((s) => (s.notificationsOpen ? 'open' : 'closed'))}</p>;
}

function mount(cameras: Camera[] = []) {
  const client = newQueryClient();
  client.setQueryData<Page<Camera>>(camerasKey, { items: cameras });
  const wrapper = ({ children }: { children: ReactNode }) => <QueryClientProvider client={client}>{children}</QueryClientProvider>;
  const r = render(
    <>
      <RealtimeBridge />
      <PanelState />
      <Toaster />
    </>,
    { wrapper },
  );
  return { client, ...r };
}

function hub(...events: Parameters<typeof realtimeStore.dispatch>[0][]): void {
  act(() => {
    for (const e of events) realtimeStore.dispatch(e);
    realtimeStore.flush();
  });
}

describe('realtime bridge', () => {
  it('starts the hub, seeds the notifications from recent alerts and stops on unmount', async () => {
    const net = fakeNetwork(['GET', '/api/alerts', () => ({ items: [alert('r1', { createdAt: '2030-01-01T00:00:09.000Z' }), alert('r0')] })]);
    const seen = vi.spyOn(realtime, 'noteAlertSeen');
    const { unmount } = mount();
    expect(realtime.start).toHaveBeenCalled();
    await vi.waitFor(() => expect(realtimeStore.getState().alerts.map((a) => a.id)).toEqual(['r1', 'r0']));
    expect(seen).toHaveBeenCalledWith('r1');
    expect(net.requests[0]!.url).toBe('/api/alerts?limit=50');
    expect(document.title).toBe('(2) Beholder');
    unmount();
    expect(realtime.stop).toHaveBeenCalled();
    expect(document.title).toBe('Beholder');
  });

  it('a camera added, changed or deleted elsewhere updates the list without a reload', () => {
    fakeNetwork(['GET', '/api/alerts', () => ({ items: [] })], ['GET', '/api/cameras', () => new Promise(() => undefined)]);
    const { client } = mount([camera('c1', { name: 'Old name' }), camera('c2')]);
    hub(
      statusUpdate('c1', 'PROCESSING', { camera: camera('c1', { name: 'New name', status: 'PROCESSING' }) }),
      statusUpdate('c3', 'STARTING', { camera: camera('c3', { name: 'Added elsewhere' }) }),
      { type: 'camera-deleted', cameraId: 'c2', timestamp: '2030-01-01T00:00:00.000Z' },
    );
    expect(client.getQueryData<Page<Camera>>(camerasKey)!.items.map((c) => c.name)).toEqual(['New name', 'Added elsewhere']);
  });

  it('many new alerts at once make one toast that opens the panel, with the chime when sound is on', async () => {
    fakeNetwork(['GET', '/api/alerts', () => ({ items: [] })]);
    setPrefs({ sound: true });
    const tones: number[] = [];
    const node = () => ({ type: '', connect: (n: unknown) => n, frequency: { set value(v: number) { tones.push(v); } }, gain: { setValueAtTime: () => undefined, exponentialRampToValueAtTime: () => undefined }, start: () => undefined, stop: () => undefined });
    vi.stubGlobal('AudioContext', class { currentTime = 0; destination = {}; createOscillator = node; createGain = node; });
    mount([camera('cam-1', { name: 'Porch' })]);
    hub(alertMessage('m1', 1), alertMessage('m2', 2), alertMessage('m3', 3), alertMessage('m4', 4));
    expect(await screen.findByText('4 new alerts')).toBeTruthy();
    expect(tones).toEqual([880, 1320]);
    fireEvent.click(screen.getByRole('button', { name: 'Show' }));
    expect(screen.getByTestId('panel').textContent).toBe('open');
  });

  it("does not repeat the camera when the server's message names it, and leaves NVR alerts to the fleet bridge", async () => {
    fakeNetwork(['GET', '/api/alerts', () => ({ items: [] })]);
    mount([camera('cam-1', { name: 'Porch' })]);
    hub(
      alertMessage('k1', 1, 'cam-1', { message: '2 faces detected on Porch' }),
      alertMessage('k2', 2, null as never, { type: 'alert', alertType: 'system-alert', nvrId: 'nvr-1', message: 'NVR offline' }),
    );
    expect(await screen.findByText('2 faces detected on Porch')).toBeTruthy();
    expect(screen.queryByText(/NVR offline/)).toBeNull();
  });
});
