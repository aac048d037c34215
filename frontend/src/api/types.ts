/**
 * Wire types of the REST API (DESIGN §6). REST shapes come from the client generated from the
 * server's OpenAPI schema (src/api/generated, `npm run gen:api`); what the schema leaves open
 * (camera stats, alert metadata, readiness, hub messages) is written out here. Pages import
 * types from this file only.
 */
import type * as G from './generated/types.gen';

export type Role = G.Role;
export type TokenPair = G.TokenResponse;
export type Me = G.Me;
export type CameraStatus = G.CameraStatus;
export type CameraCreate = G.CameraCreate;
export type CameraUpdate = G.CameraUpdate;
export type CommandAccepted = G.CommandAccepted;

export const CAMERA_STATUSES: readonly CameraStatus[] = [
  'PROCESSING',
  'STARTING',
  'CONNECTING',
  'ERROR',
  'STOPPING',
  'STOPPED',
  'OFFLINE',
];

export type ConnectionQuality = 'excellent' | 'fair' | 'poor' | 'unusable';

export interface StreamStats {
  inputFps?: number;
  decodedFps?: number;
  detectionFps?: number;
  detectorMsP50?: number | null;
  decodeMsP50?: number | null;
  reconnectsLastHour?: number;
  stallsLastHour?: number;
  droppedSamples?: number;
  skippedStatic?: number;
  analysedSamples?: number;
  uptimeS?: number;
  bytesIn?: number;
  width?: number | null;
  height?: number | null;
  codec?: string | null;
  expectedFps?: number | null;
  connectionQuality?: ConnectionQuality;
  egress?: 'passthrough' | 'transcode' | 'none' | null;
  viewers?: number | null;
}

/** A camera; the RTSP URL is always masked by the server (rtsp://user:***@host/...). */
export type Camera = Omit<G.CameraOut, 'stats' | 'nvrId' | 'location' | 'statusDetail' | 'errorCode'> & {
  location?: string | null;
  nvrId?: string | null;
  statusDetail?: string | null;
  errorCode?: string | null;
  stats?: StreamStats | null;
};

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export type AlertType = 'face-detection' | 'system-alert' | 'stream-error';
export const ALERT_TYPES: readonly AlertType[] = ['face-detection', 'system-alert', 'stream-error'];

export interface DetectedFace {
  box: [number, number, number, number];
  confidence: number;
  trackId?: number | null;
}

/** An alert, from REST (AlertOut) or from the hub (which may leave optional fields out). */
export type Alert = Omit<G.AlertOut, 'type' | 'severity' | 'metadata' | 'cameraId' | 'streamId' | 'hasSnapshot' | 'acknowledgedAt' | 'acknowledgedBy' | 'thumbnail'> & {
  type: AlertType | string;
  severity: Severity | string;
  cameraId?: string | null;
  streamId?: string | null;
  metadata?: { faces?: DetectedFace[]; [key: string]: unknown } | null;
  /** Small JPEG, base64 (no data: prefix). */
  thumbnail?: string | null;
  hasSnapshot?: boolean;
  acknowledgedAt?: string | null;
  acknowledgedBy?: string | null;
};

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export interface AlertQuery {
  cameraId?: string;
  severity?: string;
  type?: string;
  since?: string;
  until?: string;
  acknowledged?: boolean;
  limit?: number;
  cursor?: string;
}

export type HealthStatus = 'HEALTHY' | 'DEGRADED' | 'UNHEALTHY' | 'STARTING' | 'UNKNOWN';

export interface ServiceHealth {
  status: HealthStatus | string;
  responseTimeMs?: number | null;
  details?: unknown;
  lastChecked?: string | null;
}

export interface SystemHealth {
  status: HealthStatus | string;
  services: Record<string, ServiceHealth>;
  timestamp?: string;
}

/** /api/system/ready: 200 when ready, 503 (error shape + services) otherwise; both are data. */
export interface Readiness {
  ready: boolean;
  status?: string;
  services: Record<string, ServiceHealth>;
  message?: string;
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    severity?: string;
    correlationId?: string;
  };
}
