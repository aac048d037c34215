/**
 * Messages of the dashboard hub `/ws` (DESIGN §7). What the server sends is the `HubMessage`
 * union generated from the server's schema (one member per `type`); what the client sends is
 * written out here (the server parses it by hand, with limits).
 */
import type { AlertMessage, HubMessage } from '../api/generated/types.gen';
import type { CameraStatus } from '../api/types';

export type Topic = 'cameras' | 'alerts' | 'health' | 'stats' | 'nvrs' | 'streams';

export type ClientMessage =
  | { type: 'auth'; token: string; lastAlertId?: string }
  | { type: 'subscribe'; topics: string[] }
  | { type: 'pong'; ts?: number | string };

/** Every message the hub sends, told apart by `type`. */
export type ServerEvent = HubMessage;
export type ServerEventOf<T extends ServerEvent['type']> = Extract<ServerEvent, { type: T }>;

export type CameraStatusUpdate = ServerEventOf<'camera-status-update'>;
/** `face-detection-alert` (and `alert` for other kinds): an alert, its own type as `alertType`. */
export type AlertHubMessage = AlertMessage;
export type HealthUpdate = ServerEventOf<'health-update'>;
export type StreamStatusHubMessage = ServerEventOf<'stream-status-update'>;
/** A camera's own figures (topic `stats`); called `stats:updated` before issue 11. */
export type CameraStatsUpdate = ServerEventOf<'camera-stats-update'>;
/** The fleet summary of the operations view (topic `nvrs`), pushed at most every 0.5 s. */
export type SummaryUpdated = ServerEventOf<'stats:updated'>;

/** A status the app knows before the hub reports it (the server accepted a command), in the
 * hub's own shape so that the store treats both alike. */
export function acceptedStatus(cameraId: string, status: CameraStatus, now = new Date()): CameraStatusUpdate {
  return {
    type: 'camera-status-update',
    cameraId,
    status,
    errorCode: null,
    details: null,
    attempt: null,
    stats: null,
    workerId: null,
    camera: null,
    timestamp: now.toISOString(),
    correlationId: null,
  };
}

export const DEFAULT_TOPICS: Topic[] = ['cameras', 'alerts', 'health', 'stats', 'streams', 'nvrs'];

/** Close code the hub uses for an expired or invalid token. */
export const CLOSE_AUTH_EXPIRED = 4401;
