import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CameraStatus } from '../../api/types';
import type { ViewQuality } from '../../media/whep';
import { FakePeerConnection, apiError, fakeNetwork, installFakeWebRtc, mjpegResponse, pending, signIn, signOutLocally } from '../../test/components';
import { LiveView, type PlayState } from '../LiveView';

function whepAnswer(): Response {
  return new Response('v=0 answer', { status: 201, headers: { Location: '/api/whep/sessions/s1' } });
}

let blobs = 0;
beforeEach(() => {
  signIn();
  blobs = 0;
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockImplementation(() => Promise.resolve());
  vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(() => undefined);
  vi.stubGlobal('URL', Object.assign(class extends URL {}, { createObjectURL: vi.fn(() => `blob:frame-${++blobs}`), revokeObjectURL: vi.fn() }));
});
afterEach(() => {
  cleanup();
  signOutLocally();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function root(container: HTMLElement): HTMLElement {
  return container.firstChild as HTMLElement;
}

function View(props: { status: CameraStatus; hidden?: boolean; inView?: boolean; onPlayState?: (s: PlayState, m: 'whep' | 'mjpeg', r: string | null) => void; onQuality?: (q: ViewQuality | null) => void }) {
  return <LiveView cameraId="c1" cameraName="Gate" expectedFps={25} {...props} />;
}

describe('live view over WebRTC', () => {
  beforeEach(() => installFakeWebRtc());

  it('opens a session when the camera produces, plays it, and hangs up when it stops', async () => {
    const net = fakeNetwork(['POST', '/api/cameras/c1/whep', () => whepAnswer()], ['DELETE', '/api/whep/sessions/s1', () => new Response(null, { status: 204 })]);
    const states: string[] = [];
    const onPlay = (s: PlayState, m: string) => void states.push(`${s}/${m}`);
    const { container, rerender } = render(<View status="STOPPED" onPlayState={onPlay} />);
    expect(FakePeerConnection.instances).toHaveLength(0);
    rerender(<View status="PROCESSING" onPlayState={onPlay} />);
    await waitFor(() => expect(net.sent('POST')).toHaveLength(1));
    expect(root(container).dataset.playState).toBe('connecting');
    const pc = FakePeerConnection.instances[0]!;
    await waitFor(() => expect(pc.remoteDescription).not.toBeNull());
    act(() => void pc.connect());
    expect(root(container).dataset.playState).toBe('playing');
    const video = screen.getByLabelText('Live video of Gate') as HTMLVideoElement;
    expect(video.srcObject).not.toBeNull();
    expect(states).toEqual(['idle/whep', 'connecting/whep', 'playing/whep']);
    // A camera reconnect keeps the viewer.
    rerender(<View status="CONNECTING" />);
    expect(pc.closed).toBe(false);
    rerender(<View status="STOPPED" />);
    expect(pc.closed).toBe(true);
    expect(root(container).dataset.playState).toBe('idle');
    await waitFor(() => expect(net.sent('DELETE')).toHaveLength(1));
  });

  it('hidden keeps the session and hides the video; out of view pauses decoding', async () => {
    fakeNetwork(['POST', '/api/cameras/c1/whep', () => whepAnswer()]);
    const { rerender } = render(<View status="PROCESSING" />);
    await waitFor(() => expect(FakePeerConnection.instances[0]?.remoteDescription).toBeTruthy());
    const pc = FakePeerConnection.instances[0]!;
    let track!: MediaStreamTrack;
    act(() => void (track = pc.connect()));
    rerender(<View status="PROCESSING" hidden />);
    expect(screen.getByLabelText('Live video of Gate').className).toContain('invisible');
    expect(pc.closed).toBe(false);
    rerender(<View status="PROCESSING" inView={false} />);
    expect(track.enabled).toBe(false);
    expect(HTMLMediaElement.prototype.pause).toHaveBeenCalled();
    rerender(<View status="PROCESSING" inView />);
    expect(track.enabled).toBe(true);
  });

  it('retries soon while the stream has no keyframe yet, saying why', async () => {
    let n = 0;
    const net = fakeNetwork(['POST', '/api/cameras/c1/whep', () => (n++ === 0 ? apiError(503, 'STREAM_UNAVAILABLE', 'The stream is starting.') : whepAnswer())]);
    const reasons: (string | null)[] = [];
    render(<View status="PROCESSING" onPlayState={(_s, _m, r) => void reasons.push(r)} />);
    await waitFor(() => expect(net.sent('POST')).toHaveLength(2));
    expect(reasons).toContain('The stream is starting.');
    await waitFor(() => expect(FakePeerConnection.instances[1]?.remoteDescription).toBeTruthy());
    act(() => void FakePeerConnection.instances[1]!.connect());
    expect(reasons.at(-1)).toBeNull();
  });

  it('reports quality every 2 s and starts a new session when nothing is decoded for ~6 s', async () => {
    vi.useFakeTimers();
    const net = fakeNetwork(['POST', '/api/cameras/c1/whep', () => whepAnswer()], ['DELETE', /sessions/, () => new Response(null, { status: 204 })]);
    const qualities: (ViewQuality | null)[] = [];
    render(<View status="PROCESSING" onQuality={(q) => void qualities.push(q)} />);
    await vi.advanceTimersByTimeAsync(10);
    const pc = FakePeerConnection.instances[0]!;
    act(() => void pc.connect());
    pc.stats = [{ type: 'inbound-rtp', kind: 'video', framesDecoded: 10, packetsLost: 0, packetsReceived: 100, framesPerSecond: 25 }];
    await act(() => vi.advanceTimersByTimeAsync(2000));
    expect(qualities.at(-1)).toMatchObject({ fps: 25, label: 'excellent' });
    expect(FakePeerConnection.instances).toHaveLength(1);
    await act(() => vi.advanceTimersByTimeAsync(6000)); // frames stuck at 10
    await act(() => vi.advanceTimersByTimeAsync(100));
    expect(pc.closed).toBe(true);
    // The stalled session's "unusable" does not stand for the new one.
    expect(qualities.at(-1)).toBeNull();
    expect(FakePeerConnection.instances).toHaveLength(2);
    expect(net.sent('POST', '/api/cameras/c1/whep')).toHaveLength(2);
  });
});

describe('MJPEG fallback', () => {
  it('uses MJPEG at once where WebRTC is missing, with the frames as images', async () => {
    vi.stubGlobal('RTCPeerConnection', undefined);
    const net = fakeNetwork(['GET', '/api/cameras/c1/mjpeg', () => mjpegResponse([[0xff, 0xd8, 1], [0xff, 0xd8, 2]], { end: false })]);
    const reasons: (string | null)[] = [];
    const { container, unmount } = render(<View status="PROCESSING" onPlayState={(_s, m, r) => void reasons.push(`${m}: ${r}`)} />);
    expect(reasons[0]).toBe('mjpeg: This browser does not support WebRTC.');
    const img = screen.getByAltText('Live video of Gate (MJPEG)') as HTMLImageElement;
    await waitFor(() => expect(img.getAttribute('src')).toBe('blob:frame-2'));
    expect(root(container).dataset.playState).toBe('playing');
    expect(img.className).not.toContain('invisible');
    expect(URL.revokeObjectURL).toHaveBeenCalledWith('blob:frame-1'); // the previous frame
    expect(screen.queryByText('MJPEG · try WebRTC')).toBeNull(); // nothing to try
    expect(net.sent('GET', '/api/cameras/c1/mjpeg')[0]!.headers.Authorization).toBe('Bearer access-1');
    unmount();
    expect(URL.revokeObjectURL).toHaveBeenCalledWith('blob:frame-2');
  });

  it('falls back to MJPEG when WebRTC is refused, and offers to try WebRTC again', async () => {
    installFakeWebRtc();
    const net = fakeNetwork(
      ['POST', '/api/cameras/c1/whep', () => apiError(403, 'FORBIDDEN', 'WebRTC is disabled on this server.')],
      ['GET', '/api/cameras/c1/mjpeg', () => pending()],
    );
    const { container } = render(<View status="PROCESSING" />);
    const retry = await screen.findByRole('button', { name: 'MJPEG · try WebRTC' });
    expect(retry.title).toBe('WebRTC unavailable (WebRTC is disabled on this server.); showing MJPEG.');
    expect(root(container).dataset.mode).toBe('mjpeg');
    await waitFor(() => expect(net.sent('GET', '/api/cameras/c1/mjpeg')).toHaveLength(1));
    fireEvent.click(retry);
    expect(root(container).dataset.mode).toBe('whep');
    await waitFor(() => expect(net.sent('POST', '/api/cameras/c1/whep')).toHaveLength(2));
  });

  it('does not fetch MJPEG while hidden, and reports why it cannot play', async () => {
    vi.stubGlobal('RTCPeerConnection', undefined);
    const net = fakeNetwork(['GET', '/api/cameras/c1/mjpeg', () => apiError(503, 'STREAM_UNAVAILABLE', 'The camera is not producing.')]);
    const reasons: (string | null)[] = [];
    const { rerender, container } = render(<View status="PROCESSING" hidden />);
    await act(async () => undefined);
    expect(net.requests).toHaveLength(0);
    rerender(<View status="PROCESSING" onPlayState={(_s, _m, r) => void reasons.push(r)} />);
    await waitFor(() => expect(reasons).toContain('The camera is not producing.'));
    expect(root(container).dataset.playState).toBe('stalled');
  });
});
