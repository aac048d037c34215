import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nvr, nvrStatus } from '../../fleet/__tests__/fleetMessages';

const list = vi.hoisted(() => ({ items: [] as unknown[] }));
vi.mock('../../fleet/api', () => ({
  fleetApi: {
    allNvrs: () => Promise.resolve({ items: list.items, nextCursor: null, counts: { status: {}, region: {} } }),
    summary: () => new Promise(() => undefined),
  },
}));

vi.mock('../../auth/auth', () => ({ usePermissions: () => ({ control: false, acknowledge: false, admin: false, known: true }) }));

import { fleetStore } from '../../fleet';
import { FleetBridge } from '../../components/fleet/FleetBridge';
import { realtimeStore } from '../../realtime';
import NvrsPage from '../NvrsPage';

afterEach(cleanup);

function stat(name: string): string | null | undefined {
  return document.querySelector(`[data-stat="${name}"]`)?.textContent;
}

describe('NVRs page', () => {
  it('shows the statistics and filter counts, and follows the hub without a refetch', async () => {
    list.items = [
      nvr('n1', { deviceName: 'Alpha', region: 'north' }),
      nvr('n2', { deviceName: 'Bravo', region: 'south' }),
      nvr('n3', { deviceName: 'Charlie', region: 'south', status: 'offline', cameraCounts: { total: 4, online: 0, offline: 4, unknown: 0, byStatus: {} } }),
    ];
    render(
      <QueryClientProvider client={new QueryClient()}>
        <MemoryRouter initialEntries={['/nvrs']}>
          <FleetBridge />
          <NvrsPage />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    await screen.findByText('NVRs', { selector: 'dt' });
    await vi.waitFor(() => expect(stat('nvrs')).toBe('3'));
    expect(stat('offline')).toBe('1');
    expect(stat('cameras-offline')).toBe('4');
    expect(document.querySelector('[data-filter-status="online"]')?.textContent).toMatch(/2$/);
    // Bravo goes offline on the hub: numbers move at once, no REST call needed.
    await act(async () => {
      realtimeStore.dispatch(nvrStatus(nvr('n2', { deviceName: 'Bravo', region: 'south', status: 'offline', updatedAt: '2030-01-01T00:01:00.000Z', cameraCounts: { total: 4, online: 0, offline: 4, unknown: 0, byStatus: {} } })));
      realtimeStore.flush();
    });
    expect(stat('offline')).toBe('2');
    expect(stat('cameras-offline')).toBe('8');
    expect(document.querySelector('[data-filter-status="offline"]')?.textContent).toMatch(/2$/);
    expect(fleetStore.getState().nvrs.n2?.status).toBe('offline');
  });
});
