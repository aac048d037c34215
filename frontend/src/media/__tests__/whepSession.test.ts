import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../api/http';
import { tokens } from '../../auth/tokens';
import { FakePeerConnection, apiError, fakeNetwork, installFakeWebRtc, signIn, signOutLocally } from '../../test/components';
import { WhepSession, whepSupported } from '../whep';

function answer(location = '/api/whep/sessions/s1'): Response {
  return new Response('v=0 answer', { status: 201, headers: { 'Content-Type': 'application/sdp', Location: location } });
}

beforeEach(() => {
  installFakeWebRtc();
  signIn();
});
const opened: WhepSession[] = [];
function session(...a: ConstructorParameters<typeof WhepSession>): WhepSession {
  const s = new WhepSession(...a);
  opened.push(s);
  return s;
}

afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  signOutLocally();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('WHEP session', () => {
  it('is supported only where RTCPeerConnection exists', () => {
    expect(whepSupported()).toBe(true);
    vi.stubGlobal('RTCPeerConnection', undefined);
    expect(whepSupported()).toBe(false);
  });

  it('posts the gathered offer, applies the answer, plays the track and hangs up with DELETE', async () => {
    const net = fakeNetwork(['POST', '/api/cameras/c%201/whep', () => answer()], ['DELETE', '/api/whep/sessions/s1', () => new Response(null, { status: 204 })]);
    const states: string[] = [];
    const streams: MediaStream[] = [];
    const s = session('c 1', { onState: (st) => states.push(st), onStream: (m) => streams.push(m) });
    await s.start();
    const pc = FakePeerConnection.instances[0]!;
    expect(s.peerConnection).toBe(pc as unknown as RTCPeerConnection);
    expect(pc.config).toEqual({ iceServers: [], bundlePolicy: 'max-bundle' });
    expect(pc.transceivers[0]!.init).toEqual({ direction: 'recvonly' });
    expect(pc.transceivers[0]!.codecs!.map((c) => c.mimeType)).toEqual(['video/H264', 'video/VP8']);
    const [post] = net.sent('POST');
    expect(post!.body).toBe('v=0 offer with candidates'); // the description after ICE gathering
    expect(post!.headers).toMatchObject({ 'Content-Type': 'application/sdp', Accept: 'application/sdp', Authorization: 'Bearer access-1' });
    expect(pc.remoteDescription).toEqual({ type: 'answer', sdp: 'v=0 answer' });

    const track = pc.connect();
    expect(states).toEqual(['playing']);
    expect(streams[0]!.getTracks()).toEqual([track]);
    s.setReceiving(false);
    expect(track.enabled).toBe(false);
    s.setReceiving(true);
    expect(track.enabled).toBe(true);

    s.close();
    s.close(); // once only
    expect(pc.closed).toBe(true);
    expect(states).toEqual(['playing', 'closed']);
    await vi.waitFor(() => expect(net.sent('DELETE').map((r) => r.url)).toEqual(['/api/whep/sessions/s1']));
    expect(net.sent('DELETE')[0]!.headers.Authorization).toBe('Bearer access-1');
    expect(s.stream.getTracks()).toEqual([]);
    pc.setConnectionState('failed'); // after close: no more states
    expect(states).toEqual(['playing', 'closed']);
  });

  it('reports a failed connection', async () => {
    fakeNetwork(['POST', '/api/cameras/c1/whep', () => answer()]);
    const states: string[] = [];
    const s = session('c1', { onState: (st) => states.push(st) });
    await s.start();
    FakePeerConnection.instances[0]!.setConnectionState('failed');
    expect(states).toEqual(['failed']);
  });

  it("rejects with the server's error when the camera cannot be viewed", async () => {
    fakeNetwork(['POST', '/api/cameras/c1/whep', () => apiError(503, 'STREAM_UNAVAILABLE', 'The camera has no keyframe yet.')]);
    const s = session('c1');
    const err = await s.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect((err as ApiError).code).toBe('STREAM_UNAVAILABLE');
    expect((err as ApiError).message).toBe('The camera has no keyframe yet.');
  });

  it('waits for ICE gathering (or its timeout) before posting the offer', async () => {
    const net = fakeNetwork(['POST', '/api/cameras/c1/whep', () => answer()]);
    FakePeerConnection.iceGatheringState = 'gathering';
    const started = session('c1').start();
    await vi.waitFor(() => expect(FakePeerConnection.instances).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(net.sent('POST')).toHaveLength(0);
    FakePeerConnection.instances[0]!.finishGathering();
    await started;
    expect(net.sent('POST')).toHaveLength(1);

    vi.useFakeTimers();
    const second = session('c1', { iceGatheringTimeoutMs: 500 }).start();
    await vi.advanceTimersByTimeAsync(499);
    expect(net.sent('POST')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(net.sent('POST')).toHaveLength(2);
  });

  it('hangs up at once when closed while the offer was in flight', async () => {
    let release: (r: Response) => void = () => undefined;
    const net = fakeNetwork(['POST', '/api/cameras/c1/whep', () => new Promise<Response>((r) => (release = r))], ['DELETE', /sessions/, () => new Response(null, { status: 204 })]);
    const s = session('c1');
    const started = s.start();
    await vi.waitFor(() => expect(net.sent('POST')).toHaveLength(1));
    s.close();
    release(answer('/api/whep/sessions/late'));
    await started;
    expect(FakePeerConnection.instances[0]!.remoteDescription).toBeNull();
    await vi.waitFor(() => expect(net.sent('DELETE')).toHaveLength(1));
    expect(net.sent('DELETE').map((r) => r.url)).toEqual(['/api/whep/sessions/late']);
  });

  it('renews the session after every token refresh', async () => {
    const net = fakeNetwork(['POST', '/api/cameras/c1/whep', () => answer()], ['POST', '/api/whep/sessions/s1/renew', () => new Response(null, { status: 204 })]);
    const s = session('c1');
    await s.start();
    tokens.set({ accessToken: 'access-2', refreshToken: 'refresh-2', expiresIn: 3600 });
    await vi.waitFor(() => expect(net.sent('POST', '/api/whep/sessions/s1/renew')).toHaveLength(1));
    expect(net.sent('POST', '/api/whep/sessions/s1/renew')[0]!.headers.Authorization).toBe('Bearer access-2');
    tokens.set({ accessToken: 'access-2', refreshToken: 'refresh-3', expiresIn: 3600 }); // same access token: no renew
    s.close();
    tokens.set({ accessToken: 'access-3', refreshToken: 'refresh-4', expiresIn: 3600 }); // closed: no renew
    await new Promise((r) => setTimeout(r, 10));
    expect(net.sent('POST', '/api/whep/sessions/s1/renew')).toHaveLength(1);
  });

  it('measures frame rate, loss and jitter from the inbound video stats', async () => {
    fakeNetwork(['POST', '/api/cameras/c1/whep', () => answer()]);
    const s = session('c1');
    expect(await s.quality()).toBeNull(); // no connection yet
    await s.start();
    const pc = FakePeerConnection.instances[0]!;
    expect(await s.quality()).toBeNull(); // no inbound video yet
    pc.stats = [
      { type: 'inbound-rtp', kind: 'audio', framesDecoded: 999 },
      { type: 'inbound-rtp', kind: 'video', framesDecoded: 100, packetsLost: 0, packetsReceived: 1000, framesPerSecond: 25, jitter: 0.01, frameWidth: 1280, frameHeight: 720 },
    ];
    const first = await s.quality(25);
    expect(first).toEqual({ fps: 25, lossPct: null, jitterMs: 10, framesDecoded: 100, width: 1280, height: 720, label: 'excellent' });
    pc.stats = [{ type: 'inbound-rtp', kind: 'video', framesDecoded: 150, packetsLost: 50, packetsReceived: 1950 }];
    const second = (await s.quality(25))!;
    expect(second.lossPct).toBeCloseTo(5); // 50 lost of 1000 since the last sample
    expect(second.fps).toBeGreaterThan(0); // from decoded frames over time
    expect(second.jitterMs).toBeNull();
    expect(second.label).toBe('poor');
  });
});
