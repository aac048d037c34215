import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { Toaster } from 'sonner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Camera, Page, StreamStats } from '../../api/types';
import { camerasKey } from '../../lib/cameras';
import { getPrefs, setPrefs } from '../../lib/prefs';
import { realtimeStore } from '../../realtime';
import { statsUpdated, statusUpdate } from '../../realtime/__tests__/hubMessages';
import { alert, apiError, camera, fakeNetwork, json, meRoute, pending, renderApp, signIn, signOutLocally } from '../../test/components';
import { AlertDetailDialog } from '../AlertDetailDialog';
import { CameraDrawer } from '../CameraDrawer';
import { CameraTile } from '../CameraTile';

beforeEach(() => {
  signIn();
  vi.stubGlobal('URL', Object.assign(class extends URL {}, { createObjectURL: vi.fn(() => 'blob:snap'), revokeObjectURL: vi.fn() }));
});
afterEach(() => {
  cleanup();
  signOutLocally();
  vi.unstubAllGlobals();
  setPrefs({ hiddenVideo: {} });
});

function hub(...events: Parameters<typeof realtimeStore.dispatch>[0][]): void {
  act(() => {
    for (const e of events) realtimeStore.dispatch(e);
    realtimeStore.flush();
  });
}

function tile(): HTMLElement {
  return screen.getByTestId('camera-tile');
}

describe('camera tile', () => {
  it('a stopped camera: name, location, and a Start button for an operator that sends the command', async () => {
    const net = fakeNetwork(meRoute('operator'), ['POST', '/api/cameras/t1/start', () => json({ status: 'STARTING' }, 202)]);
    const onOpen = vi.fn();
    const cam = camera('t1', { name: 'Yard', location: 'Back', status: 'STOPPED', updatedAt: '2020-01-01T00:00:00.000Z' });
    renderApp(<CameraTile camera={cam} onOpen={onOpen} />);
    expect(within(tile()).getByText('Camera stopped')).toBeTruthy();
    expect(tile().textContent).toContain('Location: Back');
    fireEvent.click(await within(tile()).findByRole('button', { name: 'Start Yard' }));
    await waitFor(() => expect(net.sent('POST').map((r) => r.path)).toEqual(['/api/cameras/t1/start']));
    // The accepted status shows at once.
    await waitFor(() => {
      realtimeStore.flush();
      expect(within(tile()).getByText('Starting…')).toBeTruthy();
    });
    fireEvent.click(screen.getByRole('button', { name: 'Yard' }));
    expect(onOpen).toHaveBeenCalledWith(cam);
  });

  it('follows the hub: an error with its detail and attempt, then reconnecting', async () => {
    fakeNetwork(meRoute('viewer'));
    renderApp(<CameraTile camera={camera('t2', { name: 'Dock', status: 'PROCESSING', updatedAt: '2029-12-31T23:59:00.000Z' })} />);
    hub(statusUpdate('t2', 'ERROR', { details: 'Connection refused by 10.0.0.2', attempt: 2 }));
    const err = within(tile()).getByRole('alert');
    expect(err.textContent).toContain('Connection refused by 10.0.0.2');
    expect(err.textContent).toContain('Retrying (attempt 2)…');
    hub(statusUpdate('t2', 'CONNECTING', { attempt: 3, timestamp: '2030-01-01T00:00:01.000Z', details: 'waiting for the camera' }));
    expect(tile().textContent).toContain('Reconnecting (attempt 3)…');
    expect(tile().textContent).toContain('waiting for the camera');
    hub(statusUpdate('t2', 'STOPPING', { timestamp: '2030-01-01T00:00:02.000Z' }));
    expect(tile().textContent).toContain('Stopping…');
    // A viewer gets no Start button and sees face detection as a label only.
    expect(within(tile()).queryByRole('button', { name: /Start/ })).toBeNull();
    expect(within(tile()).getByLabelText('Face detection on')).toBeTruthy();
  });

  it('a live camera: says why video is not there yet, hides and shows the video (kept in prefs)', async () => {
    fakeNetwork(meRoute('viewer'), ['GET', '/api/cameras/t3/mjpeg', () => pending()]);
    renderApp(<CameraTile camera={camera('t3', { name: 'Hall', status: 'PROCESSING', stats: { connectionQuality: 'fair' } as StreamStats })} />);
    // jsdom has no WebRTC: MJPEG, and the overlay says so until frames arrive.
    expect(tile().textContent).toContain('Live view not available yet: This browser does not support WebRTC.');
    expect(tile().textContent).toContain('Connection quality: Fair');
    fireEvent.click(screen.getByRole('button', { name: 'Hide video of Hall' }));
    expect(getPrefs().hiddenVideo).toEqual({ t3: true });
    expect(tile().textContent).toContain('Video hidden');
    fireEvent.click(screen.getByRole('button', { name: 'Show video of Hall' }));
    expect(getPrefs().hiddenVideo).toEqual({});
    expect(tile().textContent).not.toContain('Video hidden');
  });

  it('face detection switch: optimistic, sent to the server, undone with a toast when refused', async () => {
    const cam = camera('t4', { name: 'Lobby', faceDetectionEnabled: true });
    const net = fakeNetwork(meRoute('admin'), ['POST', '/api/cameras/t4/face-detection', () => apiError(409, 'CONFLICT', 'The detector is not installed.')]);
    const { client } = renderApp(
      <>
        <CameraTile camera={cam} />
        <Toaster />
      </>,
    );
    client.setQueryData<Page<Camera>>(camerasKey, { items: [cam] });
    const sw = await screen.findByRole('switch', { name: 'Face detection for Lobby' });
    expect(sw.getAttribute('aria-checked')).toBe('true');
    fireEvent.click(sw);
    expect(client.getQueryData<Page<Camera>>(camerasKey)!.items[0]!.faceDetectionEnabled).toBe(false);
    expect(await screen.findByText('Could not change face detection for Lobby: The detector is not installed.')).toBeTruthy();
    expect(net.sent('POST')[0]!.body).toEqual({ enabled: false });
    expect(client.getQueryData<Page<Camera>>(camerasKey)!.items[0]!.faceDetectionEnabled).toBe(true);
  });
});

describe('camera drawer', () => {
  const stats: StreamStats = {
    inputFps: 24,
    expectedFps: 25,
    decodedFps: 24,
    detectionFps: 5,
    detectorMsP50: 12.4,
    width: 1920,
    height: 1080,
    codec: 'h264',
    egress: 'passthrough',
    viewers: 1,
    reconnectsLastHour: 2,
    stallsLastHour: 0,
    analysedSamples: 10,
    skippedStatic: 4,
    droppedSamples: 1,
    uptimeS: 3725,
    bytesIn: 5 * 1024 * 1024,
    connectionQuality: 'excellent',
  } as StreamStats;

  function row(term: string): string | null | undefined {
    const dt = [...document.querySelectorAll('dt')].find((d) => d.textContent === term);
    return dt?.nextElementSibling?.textContent;
  }

  it('shows the camera, its stats and recent alerts; an alert opens its details', async () => {
    const cam = camera('d1', { name: 'Garage', location: 'North', status: 'PROCESSING', rtspUrl: 'rtsp://u:***@10.0.0.4/s', stats });
    const a1 = alert('a1', { cameraId: 'd1', message: 'Face at the garage', severity: 'high', hasSnapshot: true, metadata: { faces: [{ box: [0, 0, 1, 1], confidence: 0.91, trackId: 7 }] } as never });
    const net = fakeNetwork(
      meRoute('operator'),
      ['GET', '/api/cameras', () => ({ items: [cam] })],
      ['GET', '/api/alerts', () => ({ items: [a1] })],
      ['GET', '/api/cameras/d1/mjpeg', () => pending()],
      ['GET', '/api/alerts/a1/snapshot.jpg', () => new Response(new Uint8Array([1]), { headers: { 'Content-Type': 'image/jpeg' } })],
      ['POST', '/api/alerts/a1/acknowledge', () => ({ ...a1, acknowledgedAt: new Date().toISOString(), acknowledgedBy: 'operator-user' })],
    );
    renderApp(
      <>
        <CameraDrawer cameraId="d1" onClose={() => undefined} onEdit={vi.fn()} onDelete={vi.fn()} />
        <AlertDetailDialog />
      </>,
    );
    await screen.findByText('Face at the garage');
    expect(net.sent('GET', '/api/alerts')[0]!.url).toBe('/api/alerts?cameraId=d1&limit=10');
    expect(row('Input')).toBe('24.0 fps of 25.0');
    expect(row('Detection')).toBe('5.0 fps · 12 ms (p50)');
    expect(row('Resolution')).toBe('1920×1080 h264');
    expect(row('Egress')).toBe('passthrough · 1 viewer');
    expect(row('Samples')).toBe('10 analysed · 4 skipped (static) · 1 dropped');
    expect(row('Uptime')).toBe('1 h 2 min');
    expect(row('Received')).toBe('5.0 MB');
    expect(screen.getByText('RTSP URL:', { exact: false }).parentElement!.textContent).toBe('RTSP URL: rtsp://u:***@10.0.0.4/s');
    // Stats from the hub draw the frame-rate line.
    hub(statsUpdated('d1', { ...stats, inputFps: 20 }));
    await waitFor(() => expect(screen.getByRole('img', { name: 'Input frame rate, last minute', hidden: true })).toBeTruthy());
    expect(row('Input')).toBe('20.0 fps of 25.0');

    fireEvent.click(screen.getByText('Face at the garage').closest('button')!);
    const dialogs = await screen.findAllByRole('dialog', { hidden: true });
    const detail = dialogs.find((d) => d.textContent?.includes('Severity'))!;
    await waitFor(() => expect(within(detail).getByAltText('Snapshot of the alert: Face at the garage').getAttribute('src')).toBe('blob:snap'));
    expect(detail.textContent).toContain('#7 91 %');
    expect(detail.textContent).toContain('Not acknowledged');
    fireEvent.click(within(detail).getByRole('button', { name: 'Acknowledge', hidden: true }));
    await waitFor(() => expect(detail.textContent).toContain('by operator-user'));
    expect(net.sent('POST').map((r) => r.path)).toEqual(['/api/alerts/a1/acknowledge']);
    expect(within(detail).queryByRole('button', { name: 'Acknowledge', hidden: true })).toBeNull();
  });

  it('says when there are no stats or alerts, shows an error detail, and retries failed alerts', async () => {
    let alertsFail = true;
    fakeNetwork(
      meRoute('viewer'),
      ['GET', '/api/cameras', () => ({ items: [camera('d2', { name: 'Shed', status: 'ERROR', statusDetail: 'Authentication failed (401 from the camera)' })] })],
      ['GET', '/api/alerts', () => (alertsFail ? apiError(503, 'DB_DOWN', 'The database is not answering.') : { items: [] })],
    );
    renderApp(<CameraDrawer cameraId="d2" onClose={() => undefined} onEdit={vi.fn()} onDelete={vi.fn()} />);
    expect(await screen.findByText('No stats yet (the camera reports them while it runs).')).toBeTruthy();
    expect(screen.getByText('Authentication failed (401 from the camera)')).toBeTruthy();
    const err = await screen.findByText('The database is not answering.');
    alertsFail = false;
    fireEvent.click(within(err.closest('[role="alert"]') as HTMLElement).getByRole('button', { name: 'Retry', hidden: true }));
    expect(await screen.findByText('No alerts for this camera.')).toBeTruthy();
  });

  it('says when the camera no longer exists', async () => {
    fakeNetwork(meRoute('viewer'), ['GET', '/api/cameras', () => ({ items: [] })]);
    renderApp(<CameraDrawer cameraId="gone" onClose={() => undefined} onEdit={vi.fn()} onDelete={vi.fn()} />);
    expect(await screen.findByText('This camera no longer exists.')).toBeTruthy();
  });
});
