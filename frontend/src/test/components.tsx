/**
 * Test helpers for components (fe2): a fake network at the `fetch` boundary, a signed-in
 * session whose role comes from /api/auth/me, and a render with the app's providers.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, type RenderResult } from '@testing-library/react';
import type { ReactElement, ReactNode } from 'react';
import { MemoryRouter } from 'react-router';
import { vi } from 'vitest';
import type { Alert, Camera, Role, StreamOut } from '../api/types';
import { AuthProvider } from '../auth/auth';
import { tokens } from '../auth/tokens';

export interface SentRequest {
  method: string;
  /** Path and query, e.g. `/api/cameras?limit=10`. */
  url: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

type Reply = Response | Promise<Response> | unknown;
export type Route = [method: string, path: string | RegExp, reply: (req: SentRequest) => Reply];

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/** The server's error shape (`{error: {code, message, ...}}`). */
export function apiError(status: number, code: string, message: string): Response {
  return json({ error: { code, message, severity: 'ERROR', correlationId: 'corr-1' } }, status);
}

/** A promise that never settles: the request stays pending. */
export function pending(): Promise<Response> {
  return new Promise(() => undefined);
}

export interface FakeNetwork {
  requests: SentRequest[];
  /** Requests other than the session's own (/api/auth/me) of `method` (and path prefix). */
  sent: (method: string, path?: string | RegExp) => SentRequest[];
  /** Add routes (checked before the earlier ones). */
  on: (...routes: Route[]) => void;
}

/**
 * Stubs `fetch`: each request is matched against the routes (method and path; a string path
 * matches exactly, ignoring the query) and answered by the first that matches; anything
 * else gets a 404 in the server's error shape. Every request is recorded.
 */
export function fakeNetwork(...routes: Route[]): FakeNetwork {
  let table: Route[] = [...routes];
  const requests: SentRequest[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const u = new URL(raw, 'http://localhost');
    const url = raw.startsWith('http') && !raw.startsWith('http://localhost') ? raw : `${u.pathname}${u.search}`;
    const method = (init.method ?? 'GET').toUpperCase();
    let body: unknown = init.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* keep text (e.g. SDP) */
      }
    }
    const req: SentRequest = { method, url, path: u.pathname, headers: (init.headers ?? {}) as Record<string, string>, body };
    requests.push(req);
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const route = table.find(([m, p]) => m === method && (typeof p === 'string' ? p === u.pathname : p.test(url)));
    if (!route) return apiError(404, 'NOT_FOUND', `No route for ${method} ${url} in this test.`);
    const out = await route[2](req);
    return out instanceof Response ? out : json(out);
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    requests,
    sent: (method, path) =>
      requests.filter(
        (r) => r.method === method && r.path !== '/api/auth/me' && (path === undefined || (typeof path === 'string' ? r.path === path : path.test(r.url))),
      ),
    on: (...more) => {
      table = [...more, ...table];
    },
  };
}

/** A route answering /api/auth/me with a user of `role`. */
export function meRoute(role: Role, username = `${role}-user`): Route {
  return ['GET', '/api/auth/me', () => ({ id: `u-${role}`, username, role, kind: 'user' })];
}

/** Signs in (a token valid for an hour) — the role is what /api/auth/me answers. */
export function signIn(): void {
  tokens.set({ accessToken: 'access-1', refreshToken: 'refresh-1', expiresIn: 3600, tokenType: 'bearer' });
}

export function signOutLocally(): void {
  tokens.clear();
}

export function newQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Infinity }, mutations: { retry: false } } });
}

export interface RenderOptions {
  route?: string;
  client?: QueryClient;
}

/** Renders `ui` with TanStack Query, a memory router and the auth provider. */
export function renderApp(ui: ReactElement, opts: RenderOptions = {}): { result: RenderResult; client: QueryClient } {
  const client = opts.client ?? newQueryClient();
  const wrap = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[opts.route ?? '/']}>
        <AuthProvider>{children}</AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>
  );
  return { result: render(ui, { wrapper: wrap }), client };
}

const T0 = '2030-01-01T00:00:00.000Z';

export function camera(id: string, extra: Partial<Camera> = {}): Camera {
  return {
    id,
    name: `Camera ${id}`,
    location: null,
    rtspUrl: `rtsp://admin:***@10.0.0.${id.length}/stream`,
    enabled: true,
    faceDetectionEnabled: true,
    status: 'STOPPED',
    statusDetail: null,
    errorCode: null,
    nvrId: null,
    stats: null,
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  };
}

export function alert(id: string, extra: Partial<Alert> = {}): Alert {
  return {
    id,
    cameraId: null,
    streamId: null,
    type: 'face-detection',
    severity: 'medium',
    message: `Alert ${id}`,
    metadata: {},
    thumbnail: null,
    hasSnapshot: false,
    acknowledgedAt: null,
    acknowledgedBy: null,
    createdAt: T0,
    ...extra,
  } as Alert;
}

export function stream(id: string, extra: Partial<StreamOut> = {}): StreamOut {
  return {
    id,
    deviceName: `Phone ${id}`,
    deviceType: 'android',
    faceDetectionEnabled: false,
    lastSeen: null,
    metadata: {},
    ownerId: null,
    status: 'online',
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  } as StreamOut;
}

/** A MediaStream stand-in (jsdom has none). */
export class FakeMediaStream {
  private tracks: MediaStreamTrack[] = [];
  getTracks = (): MediaStreamTrack[] => [...this.tracks];
  getVideoTracks = (): MediaStreamTrack[] => this.tracks.filter((t) => t.kind === 'video');
  addTrack = (t: MediaStreamTrack): void => void this.tracks.push(t);
  removeTrack = (t: MediaStreamTrack): void => {
    this.tracks = this.tracks.filter((x) => x !== t);
  };
}

/** An RTCPeerConnection stand-in: records what the page does, lets the test play the remote side. */
export class FakePeerConnection {
  static instances: FakePeerConnection[] = [];
  static iceGatheringState: RTCIceGatheringState = 'complete';
  readonly config: RTCConfiguration;
  iceGatheringState: RTCIceGatheringState;
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: RTCSessionDescriptionInit | null = null;
  remoteDescription: RTCSessionDescriptionInit | null = null;
  transceivers: { kind: string; init: RTCRtpTransceiverInit; codecs: RTCRtpCodec[] | null; setCodecPreferences: (c: RTCRtpCodec[]) => void }[] = [];
  ontrack: ((e: { track: MediaStreamTrack }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  closed = false;
  stats: Record<string, unknown>[] = [];
  private listeners = new Map<string, Set<() => void>>();

  constructor(config: RTCConfiguration) {
    this.config = config;
    this.iceGatheringState = FakePeerConnection.iceGatheringState;
    FakePeerConnection.instances.push(this);
  }
  addTransceiver(kind: string, init: RTCRtpTransceiverInit) {
    const t = {
      kind,
      init,
      codecs: null as RTCRtpCodec[] | null,
      setCodecPreferences(c: RTCRtpCodec[]) {
        t.codecs = c;
      },
    };
    this.transceivers.push(t);
    return t;
  }
  createOffer = async (): Promise<RTCSessionDescriptionInit> => ({ type: 'offer', sdp: 'v=0 offer' });
  setLocalDescription = async (d: RTCSessionDescriptionInit): Promise<void> => {
    this.localDescription = { type: d.type, sdp: `${d.sdp} with candidates` };
  };
  setRemoteDescription = async (d: RTCSessionDescriptionInit): Promise<void> => {
    this.remoteDescription = d;
  };
  addEventListener(type: string, l: () => void): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(l);
  }
  removeEventListener(type: string, l: () => void): void {
    this.listeners.get(type)?.delete(l);
  }
  /** ICE gathering finished (when the test started it as 'gathering'). */
  finishGathering(): void {
    this.iceGatheringState = 'complete';
    for (const l of this.listeners.get('icegatheringstatechange') ?? []) l();
  }
  /** The remote side delivers a video track and the connection comes up. */
  connect(track: MediaStreamTrack = fakeTrack()): MediaStreamTrack {
    this.ontrack?.({ track });
    this.setConnectionState('connected');
    return track;
  }
  setConnectionState(s: RTCPeerConnectionState): void {
    this.connectionState = s;
    this.onconnectionstatechange?.();
  }
  getStats = async (): Promise<Map<string, unknown>> => new Map(this.stats.map((s, i) => [String(i), s]));
  close(): void {
    this.closed = true;
  }
}

export function fakeTrack(): MediaStreamTrack {
  return { kind: 'video', enabled: true, id: `t${Math.random()}` } as MediaStreamTrack;
}

/** Installs the WebRTC stand-ins (RTCPeerConnection, RTCRtpReceiver capabilities, MediaStream). */
export function installFakeWebRtc(): void {
  FakePeerConnection.instances = [];
  FakePeerConnection.iceGatheringState = 'complete';
  vi.stubGlobal('RTCPeerConnection', FakePeerConnection);
  vi.stubGlobal('MediaStream', FakeMediaStream);
  vi.stubGlobal('RTCRtpReceiver', {
    getCapabilities: () => ({ codecs: [{ mimeType: 'video/VP8', clockRate: 90000 }, { mimeType: 'video/H264', clockRate: 90000 }], headerExtensions: [] }),
  });
}

/** A `multipart/x-mixed-replace` MJPEG answer with the given JPEG bodies (one chunk each). */
export function mjpegResponse(frames: number[][], opts: { end?: boolean } = {}): Response {
  const enc = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < frames.length) {
        const f = frames[i++]!;
        const head = enc.encode(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${f.length}\r\n\r\n`);
        const out = new Uint8Array(head.length + f.length + 2);
        out.set(head);
        out.set(f, head.length);
        out.set([13, 10], head.length + f.length);
        c.enqueue(out);
      } else if (opts.end !== false) c.close();
      else return new Promise(() => undefined);
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' } });
}
