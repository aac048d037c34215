/**
 * Fallback while the hub socket is down: the fleet pages poll REST every 10 s and say so;
 * when the socket returns they resynchronise (refetch once) and stop polling.
 */
import type { ConnectionState } from '../realtime';

export const POLL_MS = 10_000;

export interface FallbackState {
  /** Poll REST (the socket is down after having been tried). */
  polling: boolean;
  /** react-query's refetchInterval for the fleet queries. */
  refetchInterval: number | false;
  /** What the page says, or null when live. */
  notice: string | null;
}

export function fallbackState(connection: ConnectionState): FallbackState {
  const down = connection === 'reconnecting' || connection === 'offline';
  return {
    polling: down,
    refetchInterval: down ? POLL_MS : false,
    notice: down ? `Live updates are interrupted — refreshing every ${POLL_MS / 1000} s until they are back.` : null,
  };
}

/** True when the socket has just come back (resynchronise). */
export function cameBack(prev: ConnectionState | null, next: ConnectionState): boolean {
  return next === 'connected' && prev !== null && prev !== 'connected';
}
