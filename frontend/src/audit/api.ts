/** The audit trail (issue 14 item 7): `GET /api/audit`, admins only, newest first. */
import { request } from '../api/http';
import type * as G from '../api/generated/types.gen';

export type AuditEvent = G.AuditEventOut;
export type AuditAction = G.AuditAction;
export type AuditOutcome = G.AuditOutcome;
export type AuditTarget = G.AuditTarget;
export type AuditPage = G.AuditPage;
export type AuditQuery = NonNullable<G.ListAuditEventsApiAuditGetData['query']>;

/** What each action means, in words; `satisfies` keeps it in step with the server's list. */
export const ACTION_LABELS = {
  'auth.sign_in': 'Signed in',
  'auth.sign_in_failed': 'Sign-in failed',
  'auth.refresh_reuse_detected': 'Stolen session token reused',
  'auth.access_denied': 'Access denied',
  'user.create': 'User created',
  'user.role_change': 'Role changed',
  'user.disable': 'User disabled',
  'user.enable': 'User enabled',
  'user.password_change': 'Password changed',
  'user.delete': 'User deleted',
  'api_key.create': 'API key created',
  'api_key.revoke': 'API key revoked',
  'camera.create': 'Camera added',
  'camera.update': 'Camera changed',
  'camera.delete': 'Camera deleted',
  'camera.start': 'Camera started',
  'camera.stop': 'Camera stopped',
  'camera.restart': 'Camera restarted',
  'camera.face_detection': 'Face detection switched',
  'nvr.create': 'NVR added',
  'nvr.update': 'NVR changed',
  'nvr.delete': 'NVR deleted',
  'nvr_key.create': 'NVR agent key created',
  'stream.create': 'Stream registered',
  'stream.update': 'Stream changed',
  'stream.delete': 'Stream deleted',
  'alert.acknowledge': 'Alert acknowledged',
} as const satisfies Record<AuditAction, string>;

export const AUDIT_ACTIONS = Object.keys(ACTION_LABELS) as AuditAction[];
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'denied'];
export const AUDIT_TARGETS: readonly AuditTarget[] = ['user', 'api_key', 'camera', 'nvr', 'stream', 'alert'];

export const auditApi = {
  list: (q: AuditQuery) => request<AuditPage>('/api/audit', { query: { ...q } }),
};
