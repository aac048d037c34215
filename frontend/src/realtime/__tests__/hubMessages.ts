/** Complete hub messages and REST bodies for tests (each test names what it checks). */
import type { Alert, CameraStatus, HealthStatus, ServiceHealth, StreamStats, SystemHealth } from '../../api/types';
import { acceptedStatus, type AlertHubMessage, type CameraStatusUpdate, type HealthUpdate, type ServerEvent, type CameraStatsUpdate } from '../protocol';

const T0 = new Date('2030-01-01T00:00:00.000Z');

export function restAlert(a: Pick<Alert, 'id' | 'createdAt'> & Partial<Alert>): Alert {
  return {
    cameraId: null,
    streamId: null,
    type: 'face-detection',
    severity: 'low',
    message: '',
    metadata: {},
    thumbnail: null,
    hasSnapshot: false,
    acknowledgedAt: null,
    acknowledgedBy: null,
    ...a,
  };
}

/** A `face-detection-alert` created `sec` seconds after 2030-01-01T00:00:00Z. */
export function alertMessage(id: string, sec: number, cameraId = 'cam-1', extra: Partial<AlertHubMessage> = {}): AlertHubMessage {
  return {
    type: 'face-detection-alert',
    alertType: 'face-detection',
    id,
    cameraId,
    streamId: null,
    nvrId: null,
    source: null,
    severity: 'medium',
    message: 'Face detected',
    createdAt: `2030-01-01T00:00:${String(sec).padStart(2, '0')}.000Z`,
    metadata: { faces: [{ box: [1, 2, 3, 4], confidence: 0.9, trackId: 1 }] },
    thumbnail: null,
    hasSnapshot: true,
    acknowledgedAt: null,
    acknowledgedBy: null,
    ...extra,
  };
}

export function statusUpdate(cameraId: string, status: CameraStatus, extra: Partial<CameraStatusUpdate> = {}): CameraStatusUpdate {
  return { ...acceptedStatus(cameraId, status, T0), ...extra };
}

export function statsUpdated(cameraId: string, stats: StreamStats): CameraStatsUpdate {
  return { type: 'camera-stats-update', cameraId, stats };
}

export function serviceHealth(name: string, status: HealthStatus): ServiceHealth {
  const at = T0.toISOString();
  return { name, status, responseTime: 1, lastCheck: at, responseTimeMs: 1, lastChecked: at, details: {}, critical: true };
}

export function systemHealth(status: HealthStatus, services: Record<string, ServiceHealth>): SystemHealth {
  return { overall: status, status, ready: true, services, timestamp: T0.toISOString() };
}

export function healthUpdate(health: SystemHealth): HealthUpdate {
  return { type: 'health-update', version: null, ...health };
}

/** A message type this client's schema does not know (sent by a newer server). */
export function unknownMessage(message: { type: string; [key: string]: unknown }): ServerEvent {
  return message as unknown as ServerEvent;
}
