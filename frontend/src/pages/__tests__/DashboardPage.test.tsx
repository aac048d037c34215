import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fleetCamera } from '../../fleet/__tests__/fleetMessages';
import type { FleetCamera } from '../../fleet/types';
import { apiError, renderPage, stubFetch } from '../../test/pages';

const role = vi.hoisted(() => ({ control: true }));
vi.mock('../../auth/auth', () => ({ usePermissions: () => ({ control: role.control, acknowledge: role.control, admin: false, known: true }) }));

import { setPrefs } from '../../lib/prefs';
import { DashboardPage } from '../DashboardPage';

const server = { cameras: [] as FleetCamera[] | Response };

beforeEach(() => {
  role.control = true;
  setPrefs({ columns: 0 });
  server.cameras = [];
  stubFetch((req) => (req.path === '/api/cameras' ? (server.cameras instanceof Response ? server.cameras.clone() : { items: server.cameras, nextCursor: null }) : undefined));
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('Dashboard page', () => {
  it('tells an operator how to add the first camera, and a viewer who can', async () => {
    const first = renderPage(<DashboardPage />);
    await screen.findByText('No cameras yet.');
    expect(screen.getByText(/Paste a camera’s RTSP URL in the field at the top/)).toBeTruthy();
    first.unmount();
    role.control = false;
    renderPage(<DashboardPage />);
    await screen.findByText('An operator can add cameras.');
  });

  it('shows a tile per camera and applies the chosen number of columns', async () => {
    server.cameras = [fleetCamera('c1', 'online', { name: 'Lobby' }), fleetCamera('c2', 'online', { name: 'Dock' })];
    renderPage(<DashboardPage />);
    const grid = await screen.findByTestId('camera-grid');
    await vi.waitFor(() => expect(within(grid).getAllByText(/^(Lobby|Dock)$/)).toHaveLength(2));
    expect(grid.className).toContain('xl:grid-cols-3'); // automatic: up to 4 by width
    fireEvent.change(screen.getByRole('combobox', { name: /Columns/ }), { target: { value: '2' } });
    expect(grid.className).toContain('sm:grid-cols-2');
    expect(grid.className).not.toContain('xl:grid-cols-3');
    expect(JSON.parse(localStorage.getItem('beholder.prefs')!).columns).toBe(2);
  });

  it('shows the server error with Retry', async () => {
    server.cameras = apiError(503, 'UNAVAILABLE', 'Cameras cannot be listed right now.');
    renderPage(<DashboardPage />);
    const box = await screen.findByRole('alert');
    expect(box.textContent).toContain('Cameras cannot be listed right now.');
    server.cameras = [fleetCamera('c1', 'online', { name: 'Lobby' })];
    fireEvent.click(within(box).getByRole('button', { name: 'Retry' }));
    await vi.waitFor(() => expect(within(screen.getByTestId('camera-grid')).getAllByText('Lobby').length).toBeGreaterThan(0));
  });
});
