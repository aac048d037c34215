import { useEffect, useState, useSyncExternalStore } from 'react';
import { tokens } from '../auth/tokens';
import { RelayClient, type RelaySnapshot } from './client';
import type { RelayJoin } from './protocol';

const IDLE: RelaySnapshot = { state: 'idle', attempt: 0, nextRetryAt: null, closedReason: null, message: null };
const noop = () => () => undefined;

/**
 * A relay connection for `join` while the component is mounted (null: none). A new one is
 * made when the stream or the role changes; it reconnects at once when the browser comes
 * back online or the page becomes visible again.
 */
export function useRelay(join: RelayJoin | null): { client: RelayClient | null; snap: RelaySnapshot } {
  const [client, setClient] = useState<RelayClient | null>(null);
  const key = join ? `${join.type}:${join.streamId}` : null;
  useEffect(() => {
    if (!join) return;
    const c = new RelayClient({ join, getToken: () => tokens.fresh(), refreshToken: () => tokens.refresh() });
    setClient(c);
    c.start();
    const wake = () => {
      if (!document.hidden) c.reconnectNow();
    };
    window.addEventListener('online', wake);
    document.addEventListener('visibilitychange', wake);
    return () => {
      window.removeEventListener('online', wake);
      document.removeEventListener('visibilitychange', wake);
      c.stop();
      setClient(null);
    };
    // The connection depends on the stream and the role only.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const snap = useSyncExternalStore(client ? client.subscribe : noop, client ? client.getSnapshot : () => IDLE);
  return { client, snap };
}
