import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { nvr } from '../../fleet/__tests__/fleetMessages';
import type { Nvr } from '../../fleet/types';
import { apiError, renderPage, sentTo, stubFetch, type Sent } from '../../test/pages';

const role = vi.hoisted(() => ({ admin: true }));
vi.mock('../../auth/auth', () => ({ usePermissions: () => ({ control: role.admin, acknowledge: role.admin, admin: role.admin, known: true }) }));

import NvrsPage from '../NvrsPage';

const server = { nvrs: [] as Nvr[], fail: null as Response | null, create: null as Response | null };

function handler(req: Sent) {
  if (req.path === '/api/nvrs' && req.method === 'GET') return server.fail ? server.fail.clone() : { items: server.nvrs, nextCursor: null, counts: { status: {}, region: {} } };
  if (req.path === '/api/nvrs' && req.method === 'POST') {
    if (server.create) return server.create;
    const b = req.body as { hostname: string; deviceName: string | null; region: string | null; site: string | null };
    const n = nvr('n9', { hostname: b.hostname, deviceName: b.deviceName ?? '', region: b.region, site: b.site, status: 'offline', lastSeen: null });
    server.nvrs = [...server.nvrs, n];
    return new Response(JSON.stringify(n), { status: 201 });
  }
  if (req.path === '/api/nvrs/n9/keys' && req.method === 'POST') return { id: 'k1', key: 'bhk_secret', installCommand: 'beholder nvr-agent --key bhk_secret', createdAt: '2030-01-01T00:00:00.000Z' };
  return undefined;
}

const sizes = { clientHeight: 600, clientWidth: 1000, offsetHeight: 600, offsetWidth: 1000 };
beforeAll(() => {
  for (const [k, v] of Object.entries(sizes)) Object.defineProperty(HTMLElement.prototype, k, { configurable: true, get: () => v });
});
afterAll(() => {
  for (const k of Object.keys(sizes)) Reflect.deleteProperty(HTMLElement.prototype, k);
});

let sent: Sent[];
beforeEach(() => {
  role.admin = true;
  server.fail = null;
  server.create = null;
  server.nvrs = [
    nvr('n1', { deviceName: 'Alpha', region: 'north', site: 'Depot' }),
    nvr('n2', { deviceName: 'Bravo', region: 'south', status: 'offline' }),
    nvr('n3', { deviceName: 'Charlie', region: 'south' }),
    nvr('n4', { deviceName: '', hostname: 'delta-host', region: null }),
  ];
  sent = stubFetch(handler);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function shown(): string[] {
  return [...document.querySelectorAll('[data-nvr-id]')].map((r) => r.getAttribute('data-nvr-id')!);
}

describe('NVRs page: filters and actions', () => {
  it('puts offline NVRs first, then by name, and filters by status, search and the region in the address', async () => {
    renderPage(<NvrsPage />, { route: '/nvrs' });
    await vi.waitFor(() => expect(shown()).toEqual(['n2', 'n1', 'n3', 'n4']));
    expect(document.querySelector('[data-nvr-id="n4"]')?.textContent).toContain('delta-host');
    const chips = within(screen.getByRole('list', { name: 'NVRs per status' }));
    fireEvent.click(chips.getByRole('button', { name: /offline/i }));
    await vi.waitFor(() => expect(shown()).toEqual(['n2']));
    // The region choices count what the status filter leaves.
    expect(screen.getByRole('option', { name: 'south (1)' })).toBeTruthy();
    fireEvent.click(chips.getByRole('button', { name: /All/ }));
    await vi.waitFor(() => expect(shown()).toHaveLength(4));

    fireEvent.change(screen.getByRole('textbox', { name: 'Search NVRs' }), { target: { value: 'depot' } });
    await vi.waitFor(() => expect(shown()).toEqual(['n1']));
    fireEvent.change(screen.getByRole('textbox', { name: 'Search NVRs' }), { target: { value: 'zzz' } });
    await screen.findByText('No NVR matches these filters.');
    fireEvent.change(screen.getByRole('textbox', { name: 'Search NVRs' }), { target: { value: '' } });

    fireEvent.change(screen.getByRole('combobox', { name: 'Region' }), { target: { value: 'south' } });
    await vi.waitFor(() => expect(shown()).toEqual(['n2', 'n3']));
    expect(screen.getByTestId('location').textContent).toBe('/nvrs?region=south');
    expect(chips.getByRole('button', { name: /online/i }).textContent).toMatch(/1$/);
  });

  it('starts on the region given in the address (from the Operations page)', async () => {
    renderPage(<NvrsPage />, { route: '/nvrs?region=north' });
    await vi.waitFor(() => expect(shown()).toEqual(['n1']));
  });

  it('opens an NVR in the drawer, with its id in the address', async () => {
    renderPage(<NvrsPage />, { route: '/nvrs' });
    fireEvent.click(await screen.findByRole('button', { name: 'Charlie' }));
    await screen.findByRole('dialog', { name: 'Charlie' });
    expect(screen.getByTestId('location').textContent).toBe('/nvrs?nvr=n3');
  });

  it('lets an admin add an NVR and then create its agent key', async () => {
    renderPage(<NvrsPage />);
    await vi.waitFor(() => expect(shown()).toHaveLength(4));
    fireEvent.click(screen.getByRole('button', { name: 'Add NVR' }));
    const form = await screen.findByRole('dialog', { name: 'Add an NVR' });
    fireEvent.change(within(form).getByLabelText(/Hostname/), { target: { value: ' echo-nvr ' } });
    fireEvent.change(within(form).getByLabelText('Device name'), { target: { value: 'Echo' } });
    fireEvent.change(within(form).getByLabelText('Region'), { target: { value: 'west' } });

    server.create = apiError(409, 'NVR_EXISTS', 'An NVR with this hostname already exists.');
    fireEvent.click(within(form).getByRole('button', { name: 'Add NVR' }));
    expect((await within(form).findByRole('alert')).textContent).toContain('An NVR with this hostname already exists.');
    server.create = null;
    fireEvent.click(within(form).getByRole('button', { name: 'Add NVR' }));
    await vi.waitFor(() => expect(sentTo(sent, '/api/nvrs', 'POST')).toHaveLength(2));
    expect(sentTo(sent, '/api/nvrs', 'POST')[1]?.body).toEqual({ hostname: 'echo-nvr', deviceName: 'Echo', region: 'west', site: null });

    const key = await screen.findByRole('dialog', { name: 'Agent key for Echo' });
    fireEvent.click(within(key).getByRole('button', { name: 'Create key' }));
    await within(key).findByText(/This key is shown only now/);
    expect(key.textContent).toContain('beholder nvr-agent --key bhk_secret');
    await vi.waitFor(() => expect(shown()).toContain('n9'));
  });

  it('offers no Add NVR to a non-admin, says when there is no NVR, and shows a failure with Retry', async () => {
    role.admin = false;
    server.nvrs = [];
    const first = renderPage(<NvrsPage />);
    await screen.findByText('No NVR yet. Add one, then run its agent at the site.');
    expect(screen.queryByRole('button', { name: 'Add NVR' })).toBeNull();
    first.unmount();

    server.fail = apiError(502, 'UPSTREAM', 'The fleet service did not answer.');
    renderPage(<NvrsPage />);
    const box = await screen.findByRole('alert');
    expect(box.textContent).toContain('The fleet service did not answer.');
    server.fail = null;
    server.nvrs = [nvr('n1', { deviceName: 'Alpha' })];
    fireEvent.click(within(box).getByRole('button', { name: 'Retry' }));
    await vi.waitFor(() => expect(shown()).toEqual(['n1']));
  });
});
