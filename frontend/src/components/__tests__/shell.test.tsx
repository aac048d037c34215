import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { Route, Routes, useLocation } from 'react-router';
import { Toaster } from 'sonner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tokens } from '../../auth/tokens';
import { getPrefs, setPrefs } from '../../lib/prefs';
import { ui } from '../../lib/ui';
import { realtime, realtimeStore } from '../../realtime';
import { alertMessage, healthUpdate, serviceHealth, systemHealth } from '../../realtime/__tests__/hubMessages';
import { alert, apiError, camera, fakeNetwork, json, meRoute, pending, renderApp, signIn, signOutLocally, stream, type Route as NetRoute } from '../../test/components';
import { AlertDetailDialog } from '../AlertDetailDialog';
import { Layout } from '../Layout';

beforeEach(() => {
  signIn();
  vi.spyOn(realtime, 'start').mockImplementation(() => undefined);
  vi.spyOn(realtime, 'stop').mockImplementation(() => undefined);
  vi.stubGlobal('URL', Object.assign(class extends URL {}, { createObjectURL: vi.fn(() => 'blob:snap'), revokeObjectURL: vi.fn() }));
});
afterEach(() => {
  cleanup();
  act(() => {
    ui.closeAlert();
    ui.closeNotifications();
    realtimeStore.reset();
  });
  signOutLocally();
  localStorage.clear();
  setPrefs({ sound: false });
  vi.unstubAllGlobals();
});

function Where() {
  return <p data-testid="where">{useLocation().pathname}</p>;
}

function renderShell(route: string, ...routes: NetRoute[]) {
  const net = fakeNetwork(
    ...routes, // first: they override the defaults below
    ['GET', '/api/alerts', () => ({ items: [] })],
    ['GET', '/api/cameras', () => ({ items: [] })],
    ['GET', '/api/streams', () => ({ items: [] })],
    ['GET', '/api/system/health', () => pending()],
  );
  const r = renderApp(
    <>
      <Routes>
        <Route element={<Layout />}>
          <Route path="*" element={<Where />} />
        </Route>
      </Routes>
      <Toaster />
    </>,
    { route },
  );
  return { net, ...r };
}

/** A navigation link (its label is there twice: for wide screens and for screen readers on narrow ones). */
function navLink(name: string): HTMLElement {
  return within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: `${name}${name}` });
}

function navNames(): string[] {
  return within(screen.getByRole('navigation', { name: 'Main' }))
    .getAllByRole('link')
    .map((a) => a.textContent!.trim().replace(/(\w+)\1$/, '$1'));
}

describe('layout', () => {
  it('a viewer gets the pages without Audit and without quick add; the page renders inside', async () => {
    const { net } = renderShell('/cameras', meRoute('viewer', 'vera'));
    expect(screen.getByTestId('where').textContent).toBe('/cameras');
    await waitFor(() => expect(net.requests.some((r) => r.path === '/api/auth/me')).toBe(true));
    fireEvent.click(screen.getByRole('button', { name: /^Account/ }));
    expect(await screen.findByText('vera')).toBeTruthy();
    expect(navNames()).toEqual(['Dashboard', 'Cameras', 'Streams', 'Alerts', 'Operations', 'NVRs']);
    expect(navLink('Cameras').getAttribute('aria-current')).toBe('page');
    expect(navLink('Dashboard').getAttribute('aria-current')).toBeNull();
    expect(screen.queryByPlaceholderText(/Paste an RTSP URL/)).toBeNull();
    fireEvent.click(navLink('Alerts'));
    expect(screen.getByTestId('where').textContent).toBe('/alerts');
  });

  it('an admin also gets Audit and quick add; signing out tells the server and ends the session', async () => {
    const { net } = renderShell('/', meRoute('admin', 'ada'), ['POST', '/api/auth/logout', () => json(null, 204)]);
    await screen.findByRole('link', { name: 'AuditAudit' });
    expect(navNames()).toContain('Audit');
    expect(screen.getByPlaceholderText(/Paste an RTSP URL/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Account: ada' }));
    expect(screen.getByText('admin')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(tokens.get()).toBeNull());
    expect(net.sent('POST', '/api/auth/logout')[0]!.body).toEqual({ refreshToken: 'refresh-1' });
  });
});

describe('notifications', () => {
  const a1 = alert('n1', { cameraId: 'c1', message: 'Face at the door', createdAt: '2030-01-01T00:00:03.000Z' });
  const a2 = alert('n2', { cameraId: 'c1', message: 'Another face', createdAt: '2030-01-01T00:00:02.000Z' });
  const a3 = alert('n3', { streamId: 's1', message: 'Person on the phone stream', createdAt: '2030-01-01T00:00:01.000Z' });
  const a4 = alert('n4', { type: 'system-alert', message: 'Disk almost full', severity: 'high', createdAt: '2030-01-01T00:00:00.000Z' });

  function groups(): { name: string; text: string }[] {
    return screen.getAllByTestId('notification-group').map((g) => ({ name: g.getAttribute('aria-label')!, text: g.textContent! }));
  }

  it('loads recent alerts, counts the unread ones, groups them by source and marks them read', async () => {
    const { net } = renderShell(
      '/',
      meRoute('operator'),
      ['GET', '/api/alerts', () => ({ items: [a1, a2, a3, a4] })],
      ['GET', '/api/cameras', () => ({ items: [camera('c1', { name: 'Front door' })] })],
      ['GET', '/api/streams', () => ({ items: [stream('s1', { deviceName: 'Pixel 8' })] })],
      ['GET', '/api/alerts/n1', () => a1],
    );
    expect(await screen.findByTestId('unread-badge')).toBeTruthy();
    expect(screen.getByTestId('unread-badge').textContent).toBe('4');
    expect(document.title).toBe('(4) Beholder');
    expect(net.sent('GET', '/api/alerts')[0]!.url).toBe('/api/alerts?limit=50');
    fireEvent.click(screen.getByRole('button', { name: 'Notifications' }));
    await waitFor(() => expect(groups().map((g) => g.name)).toEqual(['Front door: 2 alerts', 'Pixel 8: 1 alerts', 'System: 1 alerts']));
    expect(groups()[0]!.text).toContain('2 new');
    expect(net.sent('GET', '/api/streams')[0]!.url).toBe('/api/streams?limit=200');

    // Opening an alert marks it read and shows its details.
    fireEvent.click(screen.getByText('Face at the door').closest('button')!);
    await waitFor(() => expect(screen.getByTestId('unread-badge').textContent).toBe('3'));
    expect(groups()[0]!.text).toContain('1 new');
    expect(await screen.findByText('No snapshot for this alert.')).toBeTruthy(); // the detail dialog

    fireEvent.click(screen.getByRole('button', { name: 'Mark all read', hidden: true }));
    expect(screen.queryByTestId('unread-badge')).toBeNull();
    expect(document.title).toBe('Beholder');
    expect(screen.queryAllByText(/ new$/)).toHaveLength(0);
    expect(document.querySelectorAll('[data-unread]')).toHaveLength(0);

    fireEvent.click(screen.getByRole('button', { name: 'Sound on new alerts: off', hidden: true }));
    expect(getPrefs().sound).toBe(true);
    expect(screen.getByRole('button', { name: 'Sound on new alerts: on', hidden: true }).getAttribute('aria-pressed')).toBe('true');

    fireEvent.click(screen.getByRole('button', { name: 'Clear all', hidden: true }));
    expect(screen.getByText('No alerts. New ones appear here as they happen.')).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Clear all', hidden: true }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('a new alert from the hub is toasted with its camera and counted', async () => {
    renderShell('/', meRoute('viewer'), ['GET', '/api/cameras', () => ({ items: [camera('cam-1', { name: 'Porch' })] })]);
    await waitFor(() => expect(screen.getByRole('button', { name: 'Notifications' })).toBeTruthy());
    await act(async () => {
      await new Promise((r) => setTimeout(r, 20)); // the camera names are in
    });
    act(() => {
      realtimeStore.dispatch(alertMessage('h1', 5, 'cam-1', { message: 'Face detected' }));
      realtimeStore.flush();
    });
    expect(await screen.findByText('Face detected — Porch')).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId('unread-badge').textContent).toBe('1'));
  });
});

describe('system health', () => {
  // First: the health the hub pushes (next test) outlives a sign-out in the shared store.
  it('says when health is not available', async () => {
    renderShell('/', meRoute('viewer'), ['GET', '/api/system/health', () => apiError(500, 'INTERNAL', 'boom')]);
    fireEvent.click(screen.getByRole('button', { name: 'System health: Unknown' }));
    expect(await screen.findByText('Health is not available right now.')).toBeTruthy();
  });
  it('shows the polled health with the reasons, then what the hub pushes', async () => {
    const reason = 'The message bus is unreachable: live view is unavailable.';
    const degraded = systemHealth('DEGRADED', {
      database: serviceHealth('database', 'HEALTHY'),
      bus: { ...serviceHealth('bus', 'DEGRADED'), details: { reason, backend: 'nats' } },
    });
    renderShell('/', meRoute('viewer'), ['GET', '/api/system/health', () => degraded]);
    const button = await screen.findByRole('button', { name: `System health: Degraded — ${reason}` });
    fireEvent.click(button);
    expect(screen.getByTestId('health-reasons').textContent).toBe(`bus: ${reason}`);
    const panel = screen.getByRole('dialog', { name: /System health/ });
    expect(panel.querySelector('[data-service="bus"]')!.getAttribute('data-status')).toBe('DEGRADED');
    act(() => {
      realtimeStore.dispatch(healthUpdate(systemHealth('HEALTHY', { database: serviceHealth('database', 'HEALTHY') })));
      realtimeStore.flush();
    });
    expect(screen.getByRole('button', { name: 'System health: Healthy' })).toBeTruthy();
    expect(screen.queryByTestId('health-reasons')).toBeNull();
  });

});

describe('alert details', () => {
  it('a stream alert links to its stream and shows the thumbnail when there is no snapshot', async () => {
    const a = alert('s-a1', { streamId: 'st 1', metadata: { deviceName: 'Pixel 8' } as never, thumbnail: 'QUJD', source: 'relay-2', acknowledgedAt: '2030-01-01T00:00:00.000Z', acknowledgedBy: 'ops' });
    const net = fakeNetwork(meRoute('operator'), ['GET', '/api/cameras', () => ({ items: [] })], ['GET', /\/api\/alerts\//, () => a]);
    renderApp(
      <>
        <AlertDetailDialog />
        <Routes>
          <Route path="*" element={<Where />} />
        </Routes>
      </>,
    );
    act(() => ui.openAlert('s-a1', a));
    const img = await screen.findByAltText('Thumbnail of the alert: Alert s-a1');
    expect(img.getAttribute('src')).toBe('data:image/jpeg;base64,QUJD');
    expect(net.sent('GET', /snapshot/)).toHaveLength(0); // hasSnapshot false: not asked for
    expect(screen.getByText('relay-2')).toBeTruthy();
    expect(screen.getByText(/^Acknowledged .* by ops$/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Acknowledge', hidden: true })).toBeNull();
    fireEvent.click(screen.getByRole('link', { name: 'Pixel 8', hidden: true }));
    expect(screen.getByTestId('where').textContent).toBe('/streams/st%201');
    expect(screen.queryByText('relay-2')).toBeNull(); // closed
  });

  it('loads an alert by id, and offers a retry when that fails', async () => {
    let fail = true;
    fakeNetwork(
      meRoute('viewer'),
      ['GET', '/api/cameras', () => ({ items: [camera('c1', { name: 'Gate' })] })],
      ['GET', '/api/alerts/x1/snapshot.jpg', () => pending()], // asked before the alert says it has none
      ['GET', '/api/alerts/x1', () => (fail ? apiError(503, 'DB_DOWN', 'The database is not answering.') : alert('x1', { cameraId: 'c1', message: 'At the gate' }))],
    );
    renderApp(<AlertDetailDialog />);
    act(() => ui.openAlert('x1'));
    expect(await screen.findByText('The database is not answering.')).toBeTruthy();
    fail = false;
    fireEvent.click(screen.getByRole('button', { name: 'Retry', hidden: true }));
    expect(await screen.findByText('At the gate')).toBeTruthy();
    expect(screen.getByText('No snapshot for this alert.')).toBeTruthy();
    await waitFor(() => expect(screen.getByText('Gate')).toBeTruthy());
  });
});
