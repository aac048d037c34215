/** Typed calls of the REST API (DESIGN §6). Pages use these, never fetch directly. */
import { ApiError, fetchWithAuth, request } from './http';
import type {
  Alert,
  AlertQuery,
  Camera,
  CameraCreate,
  HealthStatus,
  CameraUpdate,
  CommandAccepted,
  Me,
  Page,
  Readiness,
  ServiceHealth,
  StreamDetail,
  StreamOut,
  StreamQuery,
  StreamRegister,
  StreamRegistered,
  StreamUpdate,
  SystemHealth,
  TokenPair,
  Worker,
} from './types';

const enc = encodeURIComponent;

export const api = {
  login: (username: string, password: string) =>
    request<TokenPair>('/api/auth/login', { method: 'POST', json: { username, password }, auth: false }),
  logout: (refreshToken: string) =>
    request<void>('/api/auth/logout', { method: 'POST', json: { refreshToken } }),
  me: () => request<Me>('/api/auth/me'),

  listCameras: () => request<Page<Camera>>('/api/cameras'),
  getCamera: (id: string) => request<Camera>(`/api/cameras/${enc(id)}`),
  createCamera: (body: CameraCreate) => request<Camera>('/api/cameras', { method: 'POST', json: body }),
  updateCamera: (id: string, body: CameraUpdate) =>
    request<Camera>(`/api/cameras/${enc(id)}`, { method: 'PATCH', json: body }),
  deleteCamera: (id: string) => request<void>(`/api/cameras/${enc(id)}`, { method: 'DELETE' }),
  cameraCommand: (id: string, command: 'start' | 'stop' | 'restart') =>
    request<CommandAccepted>(`/api/cameras/${enc(id)}/${command}`, { method: 'POST' }),
  setFaceDetection: (id: string, enabled: boolean) =>
    request<CommandAccepted>(`/api/cameras/${enc(id)}/face-detection`, { method: 'POST', json: { enabled } }),

  listAlerts: (q: AlertQuery = {}) =>
    request<Page<Alert>>('/api/alerts', {
      query: {
        cameraId: q.cameraId,
        streamId: q.streamId,
        severity: q.severity,
        type: q.type,
        since: q.since,
        until: q.until,
        acknowledged: q.acknowledged,
        limit: q.limit,
        cursor: q.cursor,
      },
    }),
  getAlert: (id: string) => request<Alert>(`/api/alerts/${enc(id)}`),
  acknowledgeAlert: (id: string) => request<Alert>(`/api/alerts/${enc(id)}/acknowledge`, { method: 'POST' }),

  registerStream: (body: StreamRegister) => request<StreamRegistered>('/api/streams/register', { method: 'POST', json: body }),
  listStreams: (q: StreamQuery = {}) =>
    request<Page<StreamOut>>('/api/streams', { query: { status: q.status, limit: q.limit, cursor: q.cursor } }),
  getStream: (id: string) => request<StreamDetail>(`/api/streams/${enc(id)}`),
  updateStream: (id: string, body: StreamUpdate) =>
    request<StreamOut>(`/api/streams/${enc(id)}`, { method: 'PATCH', json: body }),
  deleteStream: (id: string) => request<void>(`/api/streams/${enc(id)}`, { method: 'DELETE' }),

  /** The workers of the cluster (one under `serve`), alive ones first. */
  workers: () => request<Page<Worker>>('/api/system/workers'),

  // Signed in, the answer carries each service's details (anonymous: statuses only).
  health: () => request<SystemHealth>('/api/system/health'),

  /** 200 and 503 are both data here: the start-up screen shows the services either way. */
  async ready(): Promise<Readiness> {
    const res = await fetchWithAuth('/api/system/ready', { auth: false });
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (res.ok || res.status === 503) {
      const b = (body ?? {}) as { status?: HealthStatus; services?: Record<string, ServiceHealth>; error?: { message?: string } };
      const r: Readiness = { ready: res.ok, services: b.services ?? {} };
      if (b.status) r.status = b.status;
      if (b.error?.message) r.message = b.error.message;
      return r;
    }
    const msg = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    throw new ApiError(res.status, `HTTP_${res.status}`, typeof msg === 'string' && msg ? msg : 'The server is not answering yet.');
  },
};

export const paths = {
  cameraSnapshot: (id: string) => `/api/cameras/${enc(id)}/snapshot.jpg`,
  cameraMjpeg: (id: string) => `/api/cameras/${enc(id)}/mjpeg`,
  cameraWhep: (id: string) => `/api/cameras/${enc(id)}/whep`,
  alertSnapshot: (id: string) => `/api/alerts/${enc(id)}/snapshot.jpg`,
};
