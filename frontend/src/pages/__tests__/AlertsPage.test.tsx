import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Alert } from '../../api/types';
import { fleetCamera } from '../../fleet/__tests__/fleetMessages';
import { apiError, renderPage, sentTo, stubFetch, type Sent } from '../../test/pages';
import { alert, stream } from './streamFixtures';

const role = vi.hoisted(() => ({ control: true }));
vi.mock('../../auth/auth', () => ({ usePermissions: () => ({ control: role.control, acknowledge: role.control, admin: false, known: true }) }));

import AlertsPage from '../AlertsPage';

const server = {
  pages: new Map<string, { items: Alert[]; nextCursor: string | null }>(),
  fail: null as Response | null,
  acked: new Set<string>(),
};

function handler(req: Sent) {
  if (req.path === '/api/cameras') return { items: [fleetCamera('c1', 'online', { name: 'Lobby' })], nextCursor: null };
  if (req.path === '/api/streams') return { items: [stream('s1', { deviceName: 'Gate phone' })], nextCursor: null };
  if (req.path === '/api/alerts' && req.method === 'GET') {
    if (server.fail) return server.fail.clone();
    const p = server.pages.get(req.query.cursor ?? '') ?? { items: [], nextCursor: null };
    return { ...p, items: p.items.map((a) => (server.acked.has(a.id) ? { ...a, acknowledgedAt: '2030-01-01T01:00:00.000Z', acknowledgedBy: 'u1' } : a)) };
  }
  const ack = /^\/api\/alerts\/([^/]+)\/acknowledge$/.exec(req.path);
  if (ack && req.method === 'POST') {
    server.acked.add(ack[1]!);
    return { ...alert(ack[1]!, 's1'), acknowledgedAt: '2030-01-01T01:00:00.000Z', acknowledgedBy: 'u1' };
  }
  return undefined;
}

let sent: Sent[];
beforeEach(() => {
  role.control = true;
  server.pages.clear();
  server.acked.clear();
  server.fail = null;
  server.pages.set('', {
    items: [
      alert('a1', '', { cameraId: 'c1', streamId: null, message: 'Face in the lobby', createdAt: '2030-01-01T00:02:00.000Z' }),
      alert('a2', 's1', { message: 'Person at the gate', severity: 'critical', type: 'ml-alert', createdAt: '2030-01-01T00:01:00.000Z' }),
      alert('a3', 's1', { message: 'Old news', acknowledgedAt: '2030-01-01T00:30:00.000Z', createdAt: '2030-01-01T00:00:00.000Z' }),
    ],
    nextCursor: 'p2',
  });
  server.pages.set('p2', { items: [alert('a4', 's1', { message: 'From the second page', createdAt: '2029-12-31T23:00:00.000Z' })], nextCursor: null });
  sent = stubFetch(handler);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function alertQueries(): Record<string, string>[] {
  return sentTo(sent, '/api/alerts').map((r) => r.query);
}
function item(id: string): HTMLElement {
  return document.querySelector<HTMLElement>(`li[data-alert-id="${id}"]`)!;
}

describe('Alerts page', () => {
  it('lists the alert history with the source by name and Acknowledge where still open, and pages on', async () => {
    renderPage(<AlertsPage />, { route: '/alerts' });
    const list = await screen.findByRole('list', { name: 'Alert history' });
    expect(alertQueries()[0]).toEqual({ limit: '50' });
    expect(within(list).getAllByRole('listitem').map((li) => li.getAttribute('data-alert-id'))).toEqual(['a1', 'a2', 'a3']);
    await vi.waitFor(() => expect(item('a1').textContent).toContain('Lobby'));
    await vi.waitFor(() => expect(item('a2').textContent).toContain('Gate phone'));
    expect(within(item('a1')).getByRole('button', { name: /^Acknowledge: Face in the lobby/ })).toBeTruthy();
    expect(within(item('a3')).queryByRole('button', { name: /^Acknowledge/ })).toBeNull();
    expect(item('a3').textContent).toContain('Acknowledged');

    fireEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await screen.findByText('From the second page');
    expect(alertQueries().at(-1)).toEqual({ limit: '50', cursor: 'p2' });
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
  });

  it('acknowledges an alert on the server and shows it as acknowledged', async () => {
    renderPage(<AlertsPage />);
    await screen.findByRole('list', { name: 'Alert history' });
    fireEvent.click(within(item('a2')).getByRole('button', { name: /^Acknowledge: Person at the gate/ }));
    await vi.waitFor(() => expect(sentTo(sent, '/api/alerts/a2/acknowledge', 'POST')).toHaveLength(1));
    await vi.waitFor(() => expect(within(item('a2')).queryByRole('button', { name: /^Acknowledge/ })).toBeNull());
    expect(item('a2').textContent).toContain('Acknowledged');
  });

  it('offers no Acknowledge to a viewer', async () => {
    role.control = false;
    renderPage(<AlertsPage />);
    await screen.findByRole('list', { name: 'Alert history' });
    expect(screen.queryAllByRole('button', { name: /^Acknowledge/ })).toEqual([]);
  });

  it('sends the filters to the server', async () => {
    renderPage(<AlertsPage />);
    await screen.findByRole('list', { name: 'Alert history' });
    const form = within(screen.getByRole('search', { name: 'Filter alerts' }));
    await vi.waitFor(() => expect(form.getByRole('option', { name: 'Lobby' })).toBeTruthy());
    server.pages.clear(); // nothing matches what follows
    fireEvent.change(form.getByRole('combobox', { name: 'Source' }), { target: { value: 'camera:c1' } });
    fireEvent.change(form.getByRole('combobox', { name: 'Severity' }), { target: { value: 'critical' } });
    fireEvent.change(form.getByRole('combobox', { name: 'Type' }), { target: { value: 'face-detection' } });
    fireEvent.change(form.getByLabelText('From'), { target: { value: '2030-01-01T00:00' } });
    fireEvent.change(form.getByLabelText('To'), { target: { value: '2030-01-02T00:00' } });
    fireEvent.change(form.getByRole('combobox', { name: 'Acknowledged' }), { target: { value: 'no' } });
    await vi.waitFor(() =>
      expect(alertQueries().at(-1)).toEqual({
        limit: '50',
        cameraId: 'c1',
        severity: 'critical',
        type: 'face-detection',
        since: new Date('2030-01-01T00:00').toISOString(),
        until: new Date('2030-01-02T00:00').toISOString(),
        acknowledged: 'false',
      }),
    );
    await screen.findByText('No alerts match these filters.');
    fireEvent.change(form.getByRole('combobox', { name: 'Source' }), { target: { value: 'stream:s1' } });
    await vi.waitFor(() => expect(alertQueries().at(-1)?.streamId).toBe('s1'));
    expect(alertQueries().at(-1)?.cameraId).toBeUndefined();
  });

  it('starts filtered on the stream named in the address', async () => {
    renderPage(<AlertsPage />, { route: '/alerts?streamId=s1' });
    await screen.findByRole('list', { name: 'Alert history' });
    expect(alertQueries()[0]).toEqual({ limit: '50', streamId: 's1' });
  });

  it('shows the server error with a Retry that asks again', async () => {
    server.fail = apiError(503, 'ALERTS_UNAVAILABLE', 'Alert history is temporarily unavailable.');
    renderPage(<AlertsPage />);
    const box = await screen.findByRole('alert');
    expect(box.textContent).toContain('Alert history is temporarily unavailable.');
    server.fail = null;
    fireEvent.click(within(box).getByRole('button', { name: 'Retry' }));
    await screen.findByRole('list', { name: 'Alert history' });
  });
});
