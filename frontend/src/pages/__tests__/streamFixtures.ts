/** Streams and alerts as the REST API sends them, for the stream pages' tests. */
import type { Alert, StreamDetail, StreamOut } from '../../api/types';

export const T0 = '2030-01-01T00:00:00.000Z';

export function stream(id: string, extra: Partial<StreamOut> = {}): StreamOut {
  return {
    id,
    deviceName: `Phone ${id}`,
    deviceType: 'phone',
    faceDetectionEnabled: false,
    lastSeen: T0,
    metadata: {},
    ownerId: 'u1',
    status: 'online',
    createdAt: T0,
    updatedAt: T0,
    viewers: 0,
    mlConsumers: 0,
    ...extra,
  };
}

export function streamDetail(id: string, extra: Partial<StreamDetail> = {}): StreamDetail {
  return { ...stream(id), consumers: [], ...extra };
}

export function alert(id: string, streamId: string, extra: Partial<Alert> = {}): Alert {
  return {
    id,
    acknowledgedAt: null,
    acknowledgedBy: null,
    cameraId: null,
    createdAt: T0,
    hasSnapshot: false,
    message: `Alert ${id}`,
    metadata: {},
    severity: 'high',
    streamId,
    type: 'face-detection',
    ...extra,
  };
}
