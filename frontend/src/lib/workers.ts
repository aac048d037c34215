/**
 * Workers of a cluster (issue 12): how a worker id is shown, and how a camera moving to
 * another worker is told apart from trouble.
 */
import type { CameraStatus } from '../api/types';

/** The worker's id as it fits a table cell: whole up to 16 characters, else its start and
 * end (`host-12…a1b2c3`); the full id goes in a tooltip. `—` for none. */
export function shortWorkerId(id: string | null | undefined): string {
  if (!id) return '—';
  return id.length <= 16 ? id : `${id.slice(0, 8)}…${id.slice(-6)}`;
}

/** What the worker says while handing a camera over (`STARTING` with this detail). */
export const MOVING_DETAIL = 'Moving to another worker';

/** True while the camera is being handed to another worker: a brief, normal state. */
export function isMoving(status: CameraStatus, detail: string | null | undefined): boolean {
  return status === 'STARTING' && !!detail && detail.toLowerCase().startsWith(MOVING_DETAIL.toLowerCase());
}
