import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { fleetCamera, nvr } from '../../fleet/__tests__/fleetMessages';
import type { FleetCamera, Nvr } from '../../fleet/types';
import { apiError, renderPage, sentTo, stubFetch, type Sent } from '../../test/pages';

vi.mock('../../auth/auth', () => ({ usePermissions: () => ({ control: true, acknowledge: true, admin: false, known: true }) }));

import { setPrefs } from '../../lib/prefs';
import { realtimeStore } from '../../realtime';
import { statusUpdate } from '../../realtime/__tests__/hubMessages';
import CamerasPage from '../CamerasPage';

const server = { cameras: [] as FleetCamera[] | Response, nvrs: [] as Nvr[], remove: null as Response | null };

function handler(req: Sent) {
  if (req.path === '/api/cameras' && req.method === 'GET') return server.cameras instanceof Response ? server.cameras.clone() : { items: server.cameras, nextCursor: null };
  if (req.path === '/api/nvrs') return { items: server.nvrs, nextCursor: null, counts: { status: {}, region: {} } };
  if (req.method === 'POST' && /^\/api\/cameras\/[^/]+\/(start|stop|restart)$/.test(req.path)) return json202();
  if (req.method === 'DELETE' && req.path.startsWith('/api/cameras/')) return server.remove ?? new Response(null, { status: 204 });
  return undefined;
}
function json202() {
  return new Response(JSON.stringify({ accepted: true, status: 'STARTING', correlationId: 'c' }), { status: 202 });
}

// jsdom lays nothing out: give the virtualised table a viewport so that it renders rows.
const sizes = { clientHeight: 600, clientWidth: 1000, offsetHeight: 600, offsetWidth: 1000 };
beforeAll(() => {
  for (const [k, v] of Object.entries(sizes)) Object.defineProperty(HTMLElement.prototype, k, { configurable: true, get: () => v });
});
afterAll(() => {
  for (const k of Object.keys(sizes)) Reflect.deleteProperty(HTMLElement.prototype, k);
});

let sent: Sent[];
beforeEach(() => {
  setPrefs({ camerasView: 'table' });
  server.nvrs = [nvr('n1', { deviceName: 'Alpha NVR', region: 'north' }), nvr('n2', { deviceName: 'Bravo NVR', region: 'south' })];
  server.cameras = [
    fleetCamera('c1', 'online', { name: 'Lobby', location: 'Hall', nvrId: 'n1', faceDetectionEnabled: true }),
    fleetCamera('c2', 'offline', { name: 'Dock', location: 'Yard', nvrId: 'n2', status: 'ERROR', rtspUrl: 'rtsp://10.9.9.9/dock' }),
    fleetCamera('c3', 'online', { name: 'Attic', location: null, nvrId: null, status: 'STOPPED' }),
  ];
  server.remove = null;
  sent = stubFetch(handler);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function names(): string[] {
  return [...document.querySelectorAll('tr[data-camera-id]')].map((r) => r.querySelector('td button')?.textContent ?? '');
}

async function loaded() {
  renderPage(<CamerasPage />, { route: '/cameras' });
  await vi.waitFor(() => expect(names().length).toBe(3));
}

describe('Cameras page', () => {
  it('lists the cameras by name with their counts per status', async () => {
    await loaded();
    expect(names()).toEqual(['Attic', 'Dock', 'Lobby']);
    const chips = within(screen.getByRole('list', { name: 'Cameras per status' }));
    expect(chips.getByRole('button', { name: /All/ }).textContent).toMatch(/3$/);
    expect(chips.getByRole('button', { name: /Live/ }).textContent).toMatch(/1$/);
    expect(chips.getByRole('button', { name: /Error/ }).textContent).toMatch(/1$/);
    expect(chips.queryByRole('button', { name: /Connecting/ })).toBeNull();
    // The NVR column names the recorder.
    expect(document.querySelector('tr[data-camera-id="c1"]')?.textContent).toContain('Alpha NVR');
  });

  it('filters by status chip, search text, location, face detection, NVR and region', async () => {
    await loaded();
    const chips = within(screen.getByRole('list', { name: 'Cameras per status' }));
    fireEvent.click(chips.getByRole('button', { name: /Error/ }));
    await vi.waitFor(() => expect(names()).toEqual(['Dock']));
    expect(chips.getByRole('button', { name: /Error/ }).getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(chips.getByRole('button', { name: /Error/ })); // again: all
    await vi.waitFor(() => expect(names()).toHaveLength(3));

    const search = screen.getByRole('textbox', { name: 'Search cameras' });
    fireEvent.change(search, { target: { value: '10.9.9' } }); // matches the address
    await vi.waitFor(() => expect(names()).toEqual(['Dock']));
    fireEvent.change(search, { target: { value: 'nothing like it' } });
    await screen.findByText('No camera matches these filters.');
    fireEvent.change(search, { target: { value: '' } });

    const filters = within(screen.getByRole('search', { name: 'Filter cameras' }));
    fireEvent.change(filters.getByRole('combobox', { name: 'Location' }), { target: { value: 'Hall' } });
    await vi.waitFor(() => expect(names()).toEqual(['Lobby']));
    fireEvent.change(filters.getByRole('combobox', { name: 'Location' }), { target: { value: '' } });

    fireEvent.change(filters.getByRole('combobox', { name: 'Face detection' }), { target: { value: 'off' } });
    await vi.waitFor(() => expect(names()).toEqual(['Attic', 'Dock']));
    fireEvent.change(filters.getByRole('combobox', { name: 'Face detection' }), { target: { value: '' } });

    fireEvent.change(filters.getByRole('combobox', { name: 'NVR' }), { target: { value: 'none' } });
    await vi.waitFor(() => expect(names()).toEqual(['Attic']));
    fireEvent.change(filters.getByRole('combobox', { name: 'NVR' }), { target: { value: 'n2' } });
    await vi.waitFor(() => expect(names()).toEqual(['Dock']));
    fireEvent.change(filters.getByRole('combobox', { name: 'NVR' }), { target: { value: '' } });

    fireEvent.change(filters.getByRole('combobox', { name: 'Region' }), { target: { value: 'north' } });
    await vi.waitFor(() => expect(names()).toEqual(['Lobby']));
    fireEvent.change(filters.getByRole('combobox', { name: 'Status' }), { target: { value: 'STOPPED' } });
    await screen.findByText('No camera matches these filters.');
    // The list is filtered in the browser: one request for it.
    expect(sentTo(sent, '/api/cameras')).toHaveLength(1);
  });

  it('groups the table by NVR or region with a header per group', async () => {
    await loaded();
    const groupBy = screen.getByRole('combobox', { name: 'Group by' });
    fireEvent.change(groupBy, { target: { value: 'nvr' } });
    await vi.waitFor(() => expect([...document.querySelectorAll('tr[data-group]')].map((g) => g.getAttribute('data-group'))).toEqual(['Alpha NVR', 'Bravo NVR', 'No NVR']));
    expect(document.querySelector('tr[data-group="Bravo NVR"]')?.textContent).toMatch(/1 camera\s*1 offline/);
    fireEvent.change(groupBy, { target: { value: 'region' } });
    await vi.waitFor(() => expect([...document.querySelectorAll('tr[data-group]')].map((g) => g.getAttribute('data-group'))).toEqual(['north', 'south', 'No region']));
  });

  it('says when there are no cameras, and shows the server error with a Retry that asks again', async () => {
    server.cameras = [];
    const first = renderPage(<CamerasPage />);
    await screen.findByText('No cameras yet.');
    first.unmount();

    server.cameras = apiError(503, 'SERVICE_UNAVAILABLE', 'The camera service is restarting.');
    renderPage(<CamerasPage />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The camera service is restarting.');
    server.cameras = [fleetCamera('c9', 'online', { name: 'Back again' })];
    fireEvent.click(within(alert).getByRole('button', { name: 'Retry' }));
    await vi.waitFor(() => expect(names()).toEqual(['Back again']));
  });

  it('sends a restart, and deletes a camera after confirmation, showing a refusal in the dialog', async () => {
    await loaded();
    fireEvent.click(screen.getByRole('button', { name: 'Restart Dock' }));
    await vi.waitFor(() => expect(sentTo(sent, '/api/cameras/c2/restart', 'POST')).toHaveLength(1));

    server.remove = apiError(409, 'CAMERA_BUSY', 'The camera is being reconfigured; try again in a moment.');
    fireEvent.click(screen.getByRole('button', { name: 'Delete Lobby' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete Lobby?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    expect((await within(dialog).findByRole('alert')).textContent).toContain('The camera is being reconfigured; try again in a moment.');
    expect(sentTo(sent, '/api/cameras/c1', 'DELETE')).toHaveLength(1);

    server.remove = null;
    server.cameras = (server.cameras as FleetCamera[]).filter((c) => c.id !== 'c1');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    await vi.waitFor(() => expect(names()).toEqual(['Attic', 'Dock']));
    expect(sentTo(sent, '/api/cameras/c1', 'DELETE')).toHaveLength(2);
  });

  it('switches to the grid of tiles and remembers the choice', async () => {
    await loaded();
    fireEvent.click(screen.getByRole('button', { name: /grid/ }));
    await vi.waitFor(() => expect(document.querySelectorAll('tr[data-camera-id]')).toHaveLength(0));
    expect(screen.getByRole('button', { name: /grid/ }).getAttribute('aria-pressed')).toBe('true');
    expect(screen.getAllByText('Lobby').length).toBeGreaterThan(0);
    expect(JSON.parse(localStorage.getItem('beholder.prefs')!).camerasView).toBe('grid');
  });

  it('shows which worker holds each camera, and follows a camera moving to another worker', async () => {
    const from = 'worker-host-a-4242-0a1b2c3d';
    const to = 'worker-host-b-5151-9f8e7d6c';
    server.cameras = [fleetCamera('c1', 'online', { name: 'Lobby', nvrId: 'n1', status: 'PROCESSING', workerId: from }), ...(server.cameras as FleetCamera[]).slice(1)];
    await loaded();
    expect(screen.getByRole('columnheader', { name: 'Worker' })).toBeTruthy();
    const cell = () => document.querySelector('tr[data-camera-id="c1"] [data-testid="camera-worker"]')!;
    expect(cell().textContent).toBe('worker-h…1b2c3d');
    expect(cell().getAttribute('title')).toBe(from);
    expect(document.querySelector('tr[data-camera-id="c3"] [data-testid="camera-worker"]')!.textContent).toBe('—');
    const later = (s: number) => new Date(Date.parse('2031-01-01T00:00:00Z') + s * 1000).toISOString();
    act(() => {
      realtimeStore.dispatch(statusUpdate('c1', 'STARTING', { details: 'Moving to another worker', workerId: from, timestamp: later(1) }));
      realtimeStore.flush();
    });
    const badge = document.querySelector('tr[data-camera-id="c1"] [data-status]')!;
    expect(badge.textContent).toBe('Moving');
    act(() => {
      realtimeStore.dispatch(statusUpdate('c1', 'PROCESSING', { details: null, workerId: to, timestamp: later(2) }));
      realtimeStore.flush();
    });
    expect(document.querySelector('tr[data-camera-id="c1"] [data-status]')!.textContent).toBe('Live');
    expect(cell().getAttribute('title')).toBe(to);
    act(() => realtimeStore.reset());
  });
});
