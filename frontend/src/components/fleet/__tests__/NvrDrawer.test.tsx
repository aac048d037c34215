import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fleetCamera, nvr, nvrConnectivity } from '../../../fleet/__tests__/fleetMessages';
import { agoText } from '../../../fleet/time';
import { realtimeStore } from '../../../realtime';
import { statusUpdate } from '../../../realtime/__tests__/hubMessages';
import { apiError, fakeNetwork, meRoute, renderApp, signIn, signOutLocally } from '../../../test/components';
import { CameraTable } from '../CameraTable';
import { FleetBridge } from '../FleetBridge';
import { NvrDrawer } from '../NvrDrawer';

beforeEach(() => signIn());
afterEach(() => {
  cleanup();
  act(() => realtimeStore.reset());
  signOutLocally();
  vi.unstubAllGlobals();
});

function row(term: string): string | null | undefined {
  const dt = [...document.querySelectorAll('dt')].find((d) => d.textContent === term);
  return dt?.nextElementSibling?.textContent;
}

describe('NVR drawer', () => {
  it("shows the NVR, its cameras by channel with both statuses, its events, and admin actions", async () => {
    const n1 = nvr('n1', { site: 'Warehouse 3', model: 'DS-7608', firmware: 'V4.1', lastSeen: null, cameraCounts: { total: 3, online: 2, offline: 1, unknown: 0, byStatus: {} } });
    const net = fakeNetwork(meRoute('admin'), [
      'GET',
      '/api/nvrs/n1/cameras',
      () => ({
        items: [
          fleetCamera('c2', 'offline', { name: 'Yard', nvrChannel: 2, status: 'ERROR' }),
          fleetCamera('c1', 'online', { name: 'Gate', nvrChannel: 1 }),
        ],
      }),
    ]);
    const onKey = vi.fn();
    const onEdit = vi.fn();
    const onDelete = vi.fn();
    renderApp(
      <>
        <FleetBridge />
        <NvrDrawer nvr={n1} onClose={vi.fn()} onEdit={onEdit} onDelete={onDelete} onKey={onKey} />
      </>,
    );
    expect(row('Last seen')).toBe('never');
    expect(row('Region / site')).toBe('north · Warehouse 3');
    expect(row('Model')).toBe('DS-7608 · V4.1');
    expect(row('Cameras')).toBe('2 online · 1 offline · 0 unknown (3)');
    const list = within(screen.getByRole('region', { name: 'Cameras of this NVR', hidden: true }));
    await waitFor(() => expect(list.getAllByRole('listitem', { hidden: true }).map((li) => li.getAttribute('data-camera-id'))).toEqual(['c1', 'c2']));
    expect(net.sent('GET', '/api/nvrs/n1/cameras')[0]!.url).toBe('/api/nvrs/n1/cameras?limit=500');
    const yard = list.getAllByRole('listitem', { hidden: true })[1]!;
    expect(yard.querySelector('[data-reachability]')!.getAttribute('data-reachability')).toBe('offline');
    expect(yard.querySelector('[data-status]')!.getAttribute('data-status')).toBe('ERROR');
    // The hub says Yard streams again, and the NVR went offline: both show at once.
    act(() => {
      realtimeStore.dispatch(statusUpdate('c2', 'PROCESSING', { timestamp: '2030-01-01T00:00:30.000Z' }));
      realtimeStore.dispatch(nvrConnectivity('n1', false, 3, 40));
      realtimeStore.flush();
    });
    expect(yard.querySelector('[data-status]')!.getAttribute('data-status')).toBe('PROCESSING');
    const events = within(screen.getByRole('region', { name: 'Recent events of this NVR', hidden: true }));
    await waitFor(() => expect(events.getAllByRole('listitem', { hidden: true })[0]!.getAttribute('data-event-kind')).toBe('nvr-offline'));

    await screen.findByRole('button', { name: 'Agent key', hidden: true });
    fireEvent.click(screen.getByRole('button', { name: 'Agent key', hidden: true }));
    fireEvent.click(screen.getByRole('button', { name: 'Edit NVR', hidden: true }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete NVR', hidden: true }));
    expect([onKey, onEdit, onDelete].map((f) => f.mock.calls[0]![0].id)).toEqual(['n1', 'n1', 'n1']);
  });

  it('a viewer gets no admin actions; an empty NVR and a failed load say so', async () => {
    let fail = true;
    fakeNetwork(meRoute('viewer'), ['GET', '/api/nvrs/n1/cameras', () => (fail ? apiError(502, 'AGENT_DOWN', 'The NVR agent is not connected.') : { items: [] })]);
    renderApp(<NvrDrawer nvr={nvr('n1')} onClose={vi.fn()} onEdit={vi.fn()} onDelete={vi.fn()} onKey={vi.fn()} />);
    expect(await screen.findByText('The NVR agent is not connected.')).toBeTruthy();
    fail = false;
    fireEvent.click(screen.getByRole('button', { name: 'Retry', hidden: true }));
    expect(await screen.findByText('No channel imported yet.')).toBeTruthy();
    expect(screen.getByText('No event since this page opened.')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Agent key', hidden: true })).toBeNull();
  });
});

describe('fleet camera table', () => {
  // The table is virtualised: give the scroller a size (jsdom lays nothing out).
  beforeEach(() => {
    vi.spyOn(Element.prototype, 'clientHeight', 'get').mockReturnValue(600);
    vi.spyOn(Element.prototype, 'clientWidth', 'get').mockReturnValue(800);
  });

  it('lists cameras grouped by NVR with the offline count, opens one and follows the hub', async () => {
    fakeNetwork(meRoute('viewer'));
    const nvrs = new Map([['n1', nvr('n1', { deviceName: 'Site A' })]]);
    const cams = [fleetCamera('c1', 'online', { name: 'Gate', nvrChannel: 3 }), fleetCamera('c2', 'offline', { name: 'Yard', reachabilityDetail: 'no route to host' })];
    const onOpen = vi.fn();
    const { result } = renderApp(<CameraTable rows={cams.map((camera) => ({ camera, status: camera.status }))} groupBy="nvr" nvrs={nvrs} onOpen={onOpen} onEdit={vi.fn()} onDelete={vi.fn()} />);
    await waitFor(() => expect(result.container.querySelector('[data-group="Site A"]')).not.toBeNull());
    const group = result.container.querySelector('[data-group="Site A"]')!;
    expect(group.textContent).toBe('Site A · 2 cameras1 offline');
    const gate = result.container.querySelector('tr[data-camera-id="c1"]')!;
    expect(gate.textContent).toContain('Site A · ch3');
    expect(result.container.querySelector('tr[data-camera-id="c2"] [data-reachability]')!.textContent).toContain('(no route to host)');
    fireEvent.click(within(gate as HTMLElement).getByRole('button', { name: 'Gate' }));
    expect(onOpen).toHaveBeenCalledWith('c1');
    act(() => {
      realtimeStore.dispatch(statusUpdate('c1', 'CONNECTING', { attempt: 2, timestamp: '2030-01-01T00:00:10.000Z' }));
      realtimeStore.flush();
    });
    expect(gate.querySelector('[data-status]')!.textContent).toBe('Connecting (attempt 2)');
  });

  it('short "ago" texts', () => {
    const now = Date.parse('2030-01-02T00:00:00.000Z');
    expect(['2030-01-02T00:00:00.000Z', '2030-01-01T23:59:18.000Z', '2030-01-01T23:55:00.000Z', '2030-01-01T21:00:00.000Z', '2029-12-30T00:00:00.000Z', null, 'x'].map((t) => agoText(t, now))).toEqual([
      'just now',
      '42 s ago',
      '5 min ago',
      '3 h ago',
      '3 d ago',
      '',
      '',
    ]);
  });
});
