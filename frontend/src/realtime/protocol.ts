/** Messages of the dashboard hub `/ws` (DESIGN §7). */
import type { Alert, CameraStatus, StreamStats, SystemHealth } from '../api/types';

export type Topic = 'cameras' | 'alerts' | 'health' | 'stats' | 'nvrs';

export type ClientMessage =
  | { type: 'auth'; token: string; lastAlertId?: string }
  | { type: 'subscribe'; topics: string[] }
  | { type: 'pong'; ts?: number | string };

export interface CameraStatusUpdate {
  type: 'camera-status-update';
  cameraId: string;
  status: CameraStatus;
  errorCode?: string | null;
  details?: string | null;
  attempt?: number | null;
  stats?: StreamStats | null;
  timestamp?: string;
}

export type FaceDetectionAlertMessage = { type: 'face-detection-alert' } & Alert;

export interface HealthUpdate extends SystemHealth {
  type: 'health-update';
}

export interface StatsUpdated {
  type: 'stats:updated';
  cameraId?: string;
  stats?: StreamStats | Record<string, StreamStats>;
  cameras?: Record<string, StreamStats>;
  [key: string]: unknown;
}

/** Camera created/updated/deleted elsewhere (extension; any other `camera-*` type counts too). */
export interface CameraChanged {
  type: 'camera-created' | 'camera-updated' | 'camera-deleted';
  cameraId?: string;
  camera?: unknown;
}

export type ServerEvent =
  | CameraStatusUpdate
  | FaceDetectionAlertMessage
  | HealthUpdate
  | StatsUpdated
  | CameraChanged
  | { type: 'error'; code?: string; message?: string }
  | { type: 'ping'; ts?: number | string }
  | { type: 'auth-ok' }
  | { type: 'subscribed'; topics?: string[] }
  | { type: string; [key: string]: unknown };

export const DEFAULT_TOPICS: Topic[] = ['cameras', 'alerts', 'health', 'stats'];

/** Close code the hub uses for an expired or invalid token. */
export const CLOSE_AUTH_EXPIRED = 4401;
