/**
 * Wire types of the REST API (DESIGN §6), generated from the server's OpenAPI schema into
 * ./generated (`make gen-api`; `npm run check:api` fails when they drift from the server).
 * This file only gives them the names the pages use. Pages import types from here.
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

export type StreamStats = G.StreamStats;
export type ConnectionQuality = NonNullable<StreamStats['connectionQuality']>;

/** A camera; the RTSP URL is always masked by the server (rtsp://user:***@host/...).
 * `workerId`: the worker holding it (issue 12; typed here until the generated types carry it). */
export type Camera = G.CameraOut & { workerId?: string | null };

export type Alert = G.AlertOut;
export type Severity = Alert['severity'];
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export type AlertType = Alert['type'];
export const ALERT_TYPES: readonly AlertType[] = ['face-detection', 'ml-alert', 'system-alert', 'stream-error'];
export type DetectedFace = NonNullable<Alert['metadata']['faces']>[number];

export type Page<T> = { items: T[]; nextCursor?: string | null };

export type AlertQuery = NonNullable<G.ListAlertsApiAlertsGetData['query']>;

export type HealthStatus = G.HealthOut['status'];
/** One worker as the api hears it (`/api/system/workers`). */
export type Worker = G.WorkerOut;
export type ServiceHealth = G.ServiceHealthOut;
export type SystemHealth = G.HealthOut;

/** /api/system/ready as the start-up screen sees it: 200 (ready) and 503 (error shape plus
 * the services) are both data. */
export interface Readiness {
  ready: boolean;
  status?: HealthStatus;
  services: Record<string, ServiceHealth>;
  message?: string;
}

export type ErrorBody = G.ErrorResponse;

// Mobile relay streams (issue 10).
export type StreamOut = G.StreamOut;
export type StreamDetail = G.StreamDetailOut;
export type StreamStatus = G.StreamOut['status'];
export type StreamRegister = G.StreamRegister;
export type StreamRegistered = G.StreamRegistered;
export type StreamUpdate = G.StreamPatch;
export type StreamQuery = NonNullable<G.ListStreamsApiStreamsGetData['query']>;
export const STREAM_STATUSES: readonly StreamStatus[] = ['streaming', 'online', 'offline'];
