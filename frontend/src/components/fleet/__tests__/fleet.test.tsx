import { act, cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fleetCamera, nvr } from '../../../fleet/__tests__/fleetMessages';
import { realtimeStore } from '../../../realtime';
import { flatten } from '../CameraTable';
import { AnimatedNumber, FallbackNotice, NvrStatusBadge } from '../FleetUi';

afterEach(cleanup);

describe('camera grouping', () => {
  const nvrs = new Map([
    ['n1', nvr('n1', { deviceName: 'Bravo', region: 'south' })],
    ['n2', nvr('n2', { deviceName: 'Alpha', region: 'north' })],
  ]);
  const rows = [
    fleetCamera('a', 'online', { nvrId: 'n1' }),
    fleetCamera('b', 'offline', { nvrId: 'n2' }),
    fleetCamera('c', 'unknown', { nvrId: null }),
    fleetCamera('d', 'offline', { nvrId: 'n1' }),
  ].map((camera) => ({ camera, status: camera.status }));

  it('groups by NVR (by name, cameras without one last) with counts', () => {
    const items = flatten(rows, 'nvr', nvrs);
    expect(items.map((i) => (i.kind === 'group' ? `[${i.label} ${i.count}/${i.offline}]` : i.camera.id))).toEqual(['[Alpha 1/1]', 'b', '[Bravo 2/1]', 'a', 'd', '[No NVR 1/0]', 'c']);
  });

  it('groups by the NVR’s region', () => {
    const items = flatten(rows, 'region', nvrs);
    expect(items.filter((i) => i.kind === 'group').map((i) => (i.kind === 'group' ? i.label : ''))).toEqual(['north', 'south', 'No region']);
  });

  it('is a flat list without grouping', () => {
    expect(flatten(rows, '', nvrs).every((i) => i.kind === 'camera')).toBe(true);
  });
});

describe('fleet widgets', () => {
  it('shows the polling notice only while the socket is down', async () => {
    const { container } = render(<FallbackNotice />);
    await act(async () => {
      realtimeStore.setConnection('connected');
      realtimeStore.flush();
    });
    expect(container.querySelector('[data-testid="polling-notice"]')).toBeNull();
    await act(async () => {
      realtimeStore.setConnection('reconnecting', 2);
      realtimeStore.flush();
    });
    expect(container.querySelector('[data-testid="polling-notice"]')?.textContent).toMatch(/refreshing every 10 s/);
  });

  it('marks an NVR badge with its status', () => {
    const { container, rerender } = render(<NvrStatusBadge status="online" />);
    expect(container.querySelector('[data-nvr-status]')?.getAttribute('data-nvr-status')).toBe('online');
    rerender(<NvrStatusBadge status="offline" />);
    expect(container.textContent).toMatch(/offline/);
  });

  it('animated numbers settle on the new value', async () => {
    const { container, rerender } = render(<AnimatedNumber value={3} />);
    rerender(<AnimatedNumber value={12} />);
    expect(container.querySelector('[data-value]')?.getAttribute('data-value')).toBe('12');
    await vi.waitFor(() => expect(container.textContent).toBe('12'), { timeout: 3000 });
  });
});
