import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// uPlot asks matchMedia for the pixel ratio as it loads; jsdom has none.
vi.hoisted(() => {
  if (typeof window.matchMedia !== 'function') {
    window.matchMedia = ((q: string) => ({ matches: false, media: q, onchange: null, addListener() {}, removeListener() {}, addEventListener() {}, removeEventListener() {}, dispatchEvent: () => false })) as unknown as typeof window.matchMedia;
  }
});

import { FleetBridge } from '../../components/fleet/FleetBridge';
import { summary, summaryUpdated } from '../../fleet/__tests__/fleetMessages';
import type { SummaryStats } from '../../fleet/types';
import { realtimeStore } from '../../realtime';
import { apiError, renderPage, sentTo, stubFetch, type Sent } from '../../test/pages';
import OperationsPage from '../OperationsPage';
import { alert } from './streamFixtures';

const server = { summary: null as SummaryStats | Response | null };

function handler(req: Sent) {
  if (req.path === '/api/stats/summary') return server.summary instanceof Response ? server.summary.clone() : server.summary ?? undefined;
  return undefined;
}

// The chart draws on a canvas; jsdom has no 2D context: one that accepts every call.
const ctx2d = new Proxy({}, { get: (_t, k) => (k === 'measureText' ? () => ({ width: 10 }) : () => undefined), set: () => true });

let sent: Sent[];
beforeEach(() => {
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(ctx2d as CanvasRenderingContext2D);
  server.summary = {
    ...summary(0, 3),
    nvrs: { total: 5, online: 4, offline: 1 },
    cameras: { total: 8, online: 5, offline: 3, unknown: 0, byStatus: { PROCESSING: 5, ERROR: 3 } },
    regions: [
      { region: 'north', nvrs: 3, nvrsOnline: 3, cameras: 6, camerasOnline: 5 },
      { region: '', nvrs: 2, nvrsOnline: 1, cameras: 2, camerasOnline: 0 },
    ],
    alertsToday: 12,
    alertsByHour: [{ hour: '2030-01-01T00:00:00.000Z', total: 2, bySeverity: { high: 2 }, byType: {} }],
  } as SummaryStats;
  sent = stubFetch(handler);
  realtimeStore.reset();
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function kpi(id: string): string {
  return screen.getByTestId(`kpi-${id}`).textContent ?? '';
}

function page() {
  return renderPage(
    <>
      <FleetBridge />
      <OperationsPage />
    </>,
    { route: '/operations' },
  );
}

describe('Operations page', () => {
  it('shows the KPIs, the status distribution and the regions of the summary', async () => {
    page();
    await screen.findByTestId('kpi-nvrs');
    expect(kpi('nvrs')).toMatch(/NVRs\s*5$/);
    expect(kpi('cameras')).toMatch(/Cameras\s*8$/);
    expect(kpi('nvrs-offline')).toMatch(/1$/);
    expect(kpi('cameras-offline')).toMatch(/3$/);
    expect(kpi('alerts-today')).toMatch(/12$/);
    const dist = within(screen.getByRole('region', { name: 'Status distribution' }));
    expect(dist.getByRole('img', { name: 'NVRs: 4 Online, 1 Offline' })).toBeTruthy();
    expect(dist.getByRole('img', { name: 'Cameras (reachability): 5 Online, 3 Offline, 0 Unknown' })).toBeTruthy();
    expect(dist.getByRole('img', { name: 'Cameras (stream status): 5 Live, 3 Error' })).toBeTruthy();
    const regions = within(screen.getByRole('region', { name: 'Regions' }));
    expect(regions.getByRole('link', { name: 'north' }).getAttribute('href')).toBe('/nvrs?region=north');
    expect(regions.getByRole('link', { name: 'No region' })).toBeTruthy();
    expect(document.querySelector('[data-region="north"]')?.textContent).toContain('NVRs 3/3 · cameras 5/6');
    expect(screen.getByTestId('last-update').querySelector('time')?.getAttribute('dateTime')).toBe('2030-01-01T00:00:00.000Z');
    expect(screen.getByText('Nothing has happened since this page opened.')).toBeTruthy();
    expect(sentTo(sent, '/api/stats/summary')).toHaveLength(1);
  });

  it('follows the hub: a newer summary moves the numbers, a new alert joins the recent events', async () => {
    page();
    await screen.findByTestId('kpi-nvrs');
    await act(async () => {
      realtimeStore.dispatch(summaryUpdated({ ...summary(60, 7), alertsToday: 13 }));
      realtimeStore.flush();
    });
    await vi.waitFor(() => expect(kpi('cameras-offline')).toMatch(/7$/));
    await vi.waitFor(() => expect(kpi('alerts-today')).toMatch(/13$/));
    expect(screen.getByTestId('last-update').querySelector('time')?.getAttribute('dateTime')).toBe('2030-01-01T00:01:00.000Z');
    // An older push does not win over what is shown.
    await act(async () => {
      realtimeStore.dispatch(summaryUpdated({ ...summary(-60, 0), alertsToday: 1 }));
      realtimeStore.flush();
    });
    expect(kpi('alerts-today')).toMatch(/13$/);

    act(() => realtimeStore.seedAlerts([alert('a1', 's1', { message: 'Unknown face at the gate', createdAt: new Date().toISOString() })]));
    const events = await screen.findByRole('list', { name: 'Recent events' });
    expect(events.textContent).toContain('Unknown face at the gate');
    // No REST call was needed for any of it.
    expect(sentTo(sent, '/api/stats/summary')).toHaveLength(1);
  });

  it('shows the error of the summary with a Retry, and says when it falls back to polling', async () => {
    server.summary = apiError(503, 'STATS_UNAVAILABLE', 'Statistics are being rebuilt.');
    page();
    const alertBox = await screen.findByRole('alert');
    expect(alertBox.textContent).toContain('Statistics are being rebuilt.');
    server.summary = summary(0);
    fireEvent.click(within(alertBox).getByRole('button', { name: 'Retry' }));
    await screen.findByTestId('kpi-nvrs');
    expect(screen.queryByTestId('polling-notice')).toBeNull();
    act(() => realtimeStore.setConnection('reconnecting', 1));
    expect((await screen.findByTestId('polling-notice')).textContent).toMatch(/Live updates are interrupted/);
  });
});
