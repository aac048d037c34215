import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamDetail } from '../../api/types';
import { tokens } from '../../auth/tokens';
import { encodeFrame } from '../../relay/frame';
import { apiError, renderPage, sentTo, stubFetch, stubWebSocket, type FakeSocket, type Sent } from '../../test/pages';
import StreamViewerPage from '../StreamViewerPage';
import { T0, alert, streamDetail } from './streamFixtures';

const S = '3f2b6c1e-8d4a-4f6b-9c2e-1a7d5e9b0c42';
const server = { detail: null as StreamDetail | Response | null };

function handler(req: Sent) {
  if (req.path === `/api/streams/${S}` && req.method === 'GET') return server.detail instanceof Response ? server.detail.clone() : server.detail ?? undefined;
  if (req.path === `/api/streams/${S}` && req.method === 'PATCH') return { ...(server.detail as StreamDetail), ...(req.body as object) };
  if (req.path === '/api/alerts') return { items: [alert('a1', S, { message: 'Face at the gate', createdAt: T0 })], nextCursor: null };
  return undefined;
}

let sent: Sent[];
let sockets: FakeSocket[];
beforeEach(() => {
  server.detail = streamDetail(S, { deviceName: 'Gate phone', status: 'streaming', viewers: 1 });
  sent = stubFetch(handler);
  sockets = stubWebSocket();
  tokens.set({ accessToken: 'acc', refreshToken: 'ref', expiresIn: 900, tokenType: 'bearer' });
});
afterEach(() => {
  cleanup();
  tokens.clear();
  vi.unstubAllGlobals();
});

function view() {
  return renderPage(<StreamViewerPage />, { route: `/streams/${S}`, path: '/streams/:id' });
}

/** The relay socket once the page opened it, through auth to `subscribed`. */
async function joined(): Promise<FakeSocket> {
  await vi.waitFor(() => expect(sockets).toHaveLength(1));
  const ws = sockets[0]!;
  act(() => ws.open());
  expect(ws.messages('auth')).toEqual([{ type: 'auth', token: 'acc' }]);
  act(() => ws.receive({ type: 'auth-ok', principal: { name: 'alice', role: 'operator' }, pingInterval: 30 }));
  expect(ws.messages('subscribe')).toEqual([{ type: 'subscribe', clientType: 'dashboard', streamId: S, consumes: ['video', 'alerts'], binary: true }]);
  act(() => ws.receive({ type: 'subscribed', streamId: S, consumes: ['video', 'alerts'] }));
  return ws;
}

describe('Stream viewer page', () => {
  it('shows the stream, its past alerts, and subscribes to its video and alerts on the relay', async () => {
    view();
    await screen.findByRole('heading', { name: 'Gate phone' });
    expect(screen.getByTestId('viewer-count').textContent).toBe('1 viewer');
    expect(screen.getByText('Waiting for a frame…')).toBeTruthy();
    await screen.findByText('Face at the gate');
    expect(sentTo(sent, '/api/alerts')[0]?.query).toEqual({ streamId: S, limit: '20' });
    expect(screen.getByRole('link', { name: 'All alerts of this stream' }).getAttribute('href')).toBe(`/alerts?streamId=${S}`);

    const ws = await joined();
    expect(ws.url).toMatch(/\/api\/streams\/ws$/);
    await vi.waitFor(() => expect(document.querySelector('[data-relay-state]')?.getAttribute('data-relay-state')).toBe('ready'));
    // Joined: the stream (viewer count) is asked for again.
    await vi.waitFor(() => expect(sentTo(sent, `/api/streams/${S}`).length).toBeGreaterThanOrEqual(2));

    // A new alert arrives on the relay; one for another stream does not show.
    act(() => {
      ws.receive({ type: 'alert', id: 'a2', streamId: S, alertType: 'ml-alert', severity: 'critical', message: 'Person at night', metadata: {}, timestamp: '2030-01-01T00:05:00.000Z', source: null });
      ws.receive({ type: 'alert', id: 'a3', streamId: 'other', alertType: 'ml-alert', severity: 'low', message: 'Not mine', metadata: {}, timestamp: '2030-01-01T00:06:00.000Z', source: null });
    });
    await screen.findByText('Person at night');
    expect(screen.queryByText('Not mine')).toBeNull();
    const ids = [...document.querySelectorAll('[data-alert-id]')].map((li) => li.getAttribute('data-alert-id'));
    expect(ids).toEqual(['a2', 'a1']);

    // The relay says the phone stopped.
    act(() => ws.receive({ type: 'stream-status', streamId: S, status: 'offline', lastSeen: '2030-01-01T00:07:00.000Z' }));
    await vi.waitFor(() => expect(document.querySelector('[data-stream-status]')?.getAttribute('data-stream-status')).toBe('offline'));
    expect(screen.getByText('The stream is not sending video.')).toBeTruthy();
    expect(screen.getByText(/Last seen/)).toBeTruthy();
  });

  it('draws the frames it receives and shows their size and count', async () => {
    vi.stubGlobal('createImageBitmap', vi.fn(async () => ({ width: 640, height: 480, close: () => undefined })));
    const drawImage = vi.fn();
    const getContext = vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue({ drawImage } as unknown as CanvasRenderingContext2D);
    view();
    const ws = await joined();
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    act(() => {
      ws.receive(encodeFrame(S, Date.now(), jpeg).slice().buffer);
    });
    await vi.waitFor(() => expect(screen.getByTestId('stream-canvas').getAttribute('data-frames')).toBe('1'), { timeout: 2000 });
    expect(screen.getByText('640×480')).toBeTruthy();
    expect(screen.getByText('1 frames shown')).toBeTruthy();
    expect(screen.queryByText('Waiting for a frame…')).toBeNull();
    expect(drawImage).toHaveBeenCalledTimes(1);
    getContext.mockRestore();
  });

  it('switches face detection with a PATCH', async () => {
    view();
    fireEvent.click(await screen.findByRole('switch', { name: 'Face detection on Gate phone' }));
    await vi.waitFor(() => expect(sentTo(sent, `/api/streams/${S}`, 'PATCH')[0]?.body).toEqual({ faceDetectionEnabled: true }));
    await vi.waitFor(() => expect(screen.getByRole('switch', { name: 'Face detection on Gate phone' }).getAttribute('aria-checked')).toBe('true'));
  });

  it('shows the server error for an unknown stream and opens no relay connection', async () => {
    server.detail = apiError(404, 'STREAM_NOT_FOUND', 'This stream does not exist (any more).');
    view();
    const alertBox = await screen.findByRole('alert');
    expect(alertBox.textContent).toContain('This stream does not exist (any more).');
    expect(within(alertBox).getByRole('button', { name: 'Retry' })).toBeTruthy();
    expect(sockets).toHaveLength(0);
  });
});
