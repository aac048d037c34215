import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { tokens } from '../../auth/tokens';
import { decodeFrame } from '../../relay/frame';
import { apiError, renderPage, sentTo, stubFetch, stubWebSocket, type FakeSocket, type Sent } from '../../test/pages';
import PublishPage from '../PublishPage';
import { streamDetail } from './streamFixtures';

const S = '7c1e2a9b-3d4f-4a5b-8c6d-0e1f2a3b4c5d';
const OLD = '11111111-2222-4333-8444-555555555555';
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 9, 9, 9, 0xff, 0xd9]);
const REMEMBER = 'beholder.publish';

const server = { register: null as Response | null, existing: null as Response | null };
function handler(req: Sent) {
  if (req.path === '/api/streams/register' && req.method === 'POST') return server.register ?? new Response(JSON.stringify({ streamId: S, stream: streamDetail(S) }), { status: 201 });
  if (req.path === `/api/streams/${OLD}` && req.method === 'GET') return server.existing ?? streamDetail(OLD, { deviceName: 'Old name' });
  if (req.path === `/api/streams/${OLD}` && req.method === 'PATCH') return { ...streamDetail(OLD), ...(req.body as object) };
  return undefined;
}

/** A camera the page can open: one video track that remembers being stopped. */
function fakeCamera() {
  const track = { stop: vi.fn(), getSettings: () => ({ width: 640, height: 480 }) };
  return { track, stream: { getTracks: () => [track], getVideoTracks: () => [track] } as unknown as MediaStream };
}

function setSecure(v: boolean) {
  Object.defineProperty(window, 'isSecureContext', { configurable: true, value: v });
}
function setCamera(getUserMedia: ((c: MediaStreamConstraints) => Promise<MediaStream>) | null) {
  Object.defineProperty(navigator, 'mediaDevices', { configurable: true, value: getUserMedia ? { getUserMedia: vi.fn(getUserMedia) } : undefined });
}

// The preview and the frame grabber: a 640×480 video that jsdom cannot decode or draw by itself.
const videoSize = { videoWidth: 640, videoHeight: 480 };
beforeAll(() => {
  for (const [k, v] of Object.entries(videoSize)) Object.defineProperty(HTMLVideoElement.prototype, k, { configurable: true, get: () => v });
});
afterAll(() => {
  for (const k of Object.keys(videoSize)) Reflect.deleteProperty(HTMLVideoElement.prototype, k);
});

let sent: Sent[];
let sockets: FakeSocket[];
beforeEach(() => {
  localStorage.removeItem(REMEMBER);
  server.register = null;
  server.existing = null;
  sent = stubFetch(handler);
  sockets = stubWebSocket();
  setSecure(true);
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockResolvedValue(undefined);
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue({ drawImage: () => undefined } as unknown as CanvasRenderingContext2D);
  vi.spyOn(HTMLCanvasElement.prototype, 'toBlob').mockImplementation((cb) => cb({ type: 'image/jpeg', size: JPEG.length, arrayBuffer: async () => JPEG.slice().buffer } as Blob)); // jsdom's Blob has no arrayBuffer()
  tokens.set({ accessToken: 'acc', refreshToken: 'ref', expiresIn: 900, tokenType: 'bearer' });
});
afterEach(() => {
  cleanup();
  tokens.clear();
  vi.unstubAllGlobals();
  Reflect.deleteProperty(window, 'isSecureContext');
  Reflect.deleteProperty(navigator, 'mediaDevices');
});

function page() {
  return renderPage(<PublishPage />, { route: '/publish' });
}
function start() {
  fireEvent.click(screen.getByRole('button', { name: 'Start streaming' }));
}
function relayState(): string | null | undefined {
  return document.querySelector('[data-relay-state]')?.getAttribute('data-relay-state');
}

/** The relay socket through auth to `registered`. */
async function registered(streamId = S): Promise<FakeSocket> {
  await vi.waitFor(() => expect(sockets).toHaveLength(1));
  const ws = sockets[0]!;
  act(() => ws.open());
  expect(ws.messages('auth')).toEqual([{ type: 'auth', token: 'acc' }]);
  act(() => ws.receive({ type: 'auth-ok', principal: { name: 'alice', role: 'operator' }, pingInterval: 30 }));
  expect(ws.messages('register')).toEqual([{ type: 'register', clientType: 'mobile', streamId, produces: ['video'], consumes: ['alerts'] }]);
  act(() => ws.receive({ type: 'registered', streamId }));
  await vi.waitFor(() => expect(relayState()).toBe('ready'));
  return ws;
}

describe('Publish page', () => {
  it('explains that the camera needs HTTPS and does not offer Start on a plain-HTTP address', () => {
    setSecure(false);
    setCamera(null);
    page();
    expect(screen.getByRole('alert').textContent).toMatch(/The camera needs a secure connection/);
    expect((screen.getByRole('button', { name: 'Start streaming' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText('Start streaming to receive alerts.')).toBeTruthy();
  });

  it('says so when the browser offers no camera API at all (not a network problem)', async () => {
    setCamera(null);
    page();
    start();
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/This browser cannot give the page a camera/);
    expect(alert.textContent).not.toMatch(/Cannot reach the Beholder server/);
    expect(sentTo(sent, '/api/streams/register', 'POST')).toEqual([]);
  });

  it.each([
    ['NotAllowedError', /Camera access was refused\. Allow the camera for this site/],
    ['NotFoundError', /No camera matches/],
    ['NotReadableError', /The camera is in use by another app/],
  ])('says why the camera could not be opened (%s) and registers nothing', async (name, message) => {
    setCamera(() => Promise.reject(new DOMException('denied', name)));
    page();
    start();
    expect((await screen.findByRole('alert')).textContent).toMatch(message);
    expect(sentTo(sent, '/api/streams/register', 'POST')).toEqual([]);
    expect(sockets).toHaveLength(0);
    expect(screen.getByRole('button', { name: 'Start streaming' })).toBeTruthy();
  });

  it('registers a stream, joins the relay as its producer, sends frames and stops the camera on Stop', async () => {
    const cam = fakeCamera();
    setCamera(() => Promise.resolve(cam.stream));
    page();
    const name = screen.getByRole('textbox', { name: 'Device name' });
    fireEvent.change(name, { target: { value: '  Front door phone  ' } });
    fireEvent.change(screen.getByRole('combobox', { name: 'Camera' }), { target: { value: 'user' } });
    fireEvent.change(screen.getByRole('combobox', { name: 'Width' }), { target: { value: '320' } });
    fireEvent.change(screen.getByRole('slider', { name: 'Frames per second' }), { target: { value: '10' } });
    start();
    await vi.waitFor(() => expect(sentTo(sent, '/api/streams/register', 'POST')).toHaveLength(1));
    const gum = navigator.mediaDevices.getUserMedia as ReturnType<typeof vi.fn>;
    expect(gum).toHaveBeenCalledWith({ video: { facingMode: { ideal: 'user' }, width: { ideal: 320 } }, audio: false });
    expect(sentTo(sent, '/api/streams/register', 'POST')[0]?.body).toMatchObject({ deviceName: 'Front door phone', metadata: { resolution: '640x480', fps: 10 } });
    expect(JSON.parse(localStorage.getItem(REMEMBER)!)).toEqual({ streamId: S, deviceName: 'Front door phone' });
    await screen.findByText(`Stream ${S}`);
    expect((screen.getByRole('textbox', { name: 'Device name' }) as HTMLInputElement).disabled).toBe(true);

    const ws = await registered();
    expect(ws.url).toMatch(/\/api\/streams\/ws$/);
    // Frames go out as binary relay frames of this stream.
    await vi.waitFor(() => expect(ws.sent.some((m) => m instanceof Uint8Array || m instanceof ArrayBuffer)).toBe(true), { timeout: 2000 });
    const bin = ws.sent.find((m) => m instanceof Uint8Array || m instanceof ArrayBuffer) as Uint8Array | ArrayBuffer;
    const frame = decodeFrame(bin instanceof Uint8Array ? bin.slice().buffer : bin);
    expect(frame.streamId).toBe(S);
    expect([...frame.payload]).toEqual([...JPEG]);
    await vi.waitFor(() => expect(Number(screen.getByTestId('frames-sent').textContent)).toBeGreaterThan(0), { timeout: 2000 });

    // An alert for the stream arrives on the relay.
    act(() => ws.receive({ type: 'alert', id: 'a1', streamId: S, alertType: 'face-detection', severity: 'high', message: 'Face at the door', metadata: { confidence: 0.91 }, timestamp: '2030-01-01T00:00:00.000Z', source: null }));
    const list = within(screen.getByRole('region', { name: 'Alerts of this stream' }));
    await list.findByText('Face at the door');
    expect(list.getByText('91 %')).toBeTruthy();

    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    await screen.findByRole('button', { name: 'Start streaming' });
    expect(cam.track.stop).toHaveBeenCalled();
    expect(ws.readyState).toBe(3);
    expect(screen.queryByText(`Stream ${S}`)).toBeNull();
  });

  it('switches to the other camera while publishing, and says so when that camera cannot be opened', async () => {
    const back = fakeCamera();
    const front = fakeCamera();
    const opened: string[] = [];
    setCamera((c) => {
      const mode = ((c.video as MediaTrackConstraints).facingMode as { ideal: string }).ideal;
      opened.push(mode);
      if (opened.length === 3) return Promise.reject(new DOMException('busy', 'NotReadableError'));
      return Promise.resolve(mode === 'user' ? front.stream : back.stream);
    });
    page();
    start();
    await screen.findByText(`Stream ${S}`);
    fireEvent.change(screen.getByRole('combobox', { name: 'Camera' }), { target: { value: 'user' } });
    await vi.waitFor(() => expect(opened).toEqual(['environment', 'user']));
    await vi.waitFor(() => expect(back.track.stop).toHaveBeenCalled());
    expect(front.track.stop).not.toHaveBeenCalled();
    fireEvent.change(screen.getByRole('combobox', { name: 'Camera' }), { target: { value: 'environment' } });
    expect((await screen.findByRole('alert')).textContent).toBe('The camera is in use by another app.');
    // Still publishing with the camera that works.
    expect(screen.getByRole('button', { name: 'Stop' })).toBeTruthy();
  });

  it('publishes again as the stream of last time, renamed if the name changed', async () => {
    localStorage.setItem(REMEMBER, JSON.stringify({ streamId: OLD, deviceName: 'Old name' }));
    setCamera(() => Promise.resolve(fakeCamera().stream));
    page();
    const name = screen.getByRole('textbox', { name: 'Device name' }) as HTMLInputElement;
    expect(name.value).toBe('Old name');
    fireEvent.change(name, { target: { value: 'New name' } });
    start();
    await screen.findByText(`Stream ${OLD}`);
    expect(sentTo(sent, `/api/streams/${OLD}`, 'PATCH')[0]?.body).toEqual({ deviceName: 'New name' });
    expect(sentTo(sent, '/api/streams/register', 'POST')).toEqual([]);
    expect(JSON.parse(localStorage.getItem(REMEMBER)!)).toEqual({ streamId: OLD, deviceName: 'New name' });
  });

  it('registers a new stream when the one of last time is gone', async () => {
    localStorage.setItem(REMEMBER, JSON.stringify({ streamId: OLD, deviceName: 'Old name' }));
    server.existing = apiError(404, 'STREAM_NOT_FOUND', 'No such stream.');
    setCamera(() => Promise.resolve(fakeCamera().stream));
    page();
    start();
    await screen.findByText(`Stream ${S}`);
    expect(sentTo(sent, '/api/streams/register', 'POST')).toHaveLength(1);
  });

  it('shows a refused registration from the error shape and turns the camera off again', async () => {
    server.register = apiError(429, 'RATE_LIMITED', 'Too many streams registered from this account today.');
    const cam = fakeCamera();
    setCamera(() => Promise.resolve(cam.stream));
    page();
    start();
    expect((await screen.findByRole('alert')).textContent).toContain('Too many streams registered from this account today.');
    expect(cam.track.stop).toHaveBeenCalled();
    expect(sockets).toHaveLength(0);
    expect(screen.getByRole('button', { name: 'Start streaming' })).toBeTruthy();
  });

  it('stops with an explanation when the stream is deleted elsewhere, and offers to take it back when replaced', async () => {
    const cam = fakeCamera();
    setCamera(() => Promise.resolve(cam.stream));
    const first = page();
    start();
    let ws = await registered();
    act(() => ws.receive({ type: 'stream-deleted', streamId: S }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Start again to publish as a new stream\.$/);
    await screen.findByRole('button', { name: 'Start streaming' });
    expect(cam.track.stop).toHaveBeenCalled();
    first.unmount();

    sockets.length = 0;
    page();
    start();
    ws = await registered();
    act(() => ws.receive({ type: 'producer-replaced', streamId: S }));
    fireEvent.click(await screen.findByRole('button', { name: 'Take the stream back' }));
    await vi.waitFor(() => expect(sockets).toHaveLength(2));
  });
});
