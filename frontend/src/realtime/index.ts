/**
 * The real-time core shared by every page: one hub socket per tab, its store, and the
 * offline queue for user actions. Import from here, not from the files behind it.
 */
import { useSyncExternalStore } from 'react';
import { tokens } from '../auth/tokens';
import { RealtimeClient } from './client';
import { OfflineQueue, type QueuedAction } from './offlineQueue';
import { acceptedStatus } from './protocol';
import { RealtimeStore, isUnread, type CameraLive, type RealtimeState, type StreamLive } from './store';

export { RealtimeClient, RealtimeStore, OfflineQueue, acceptedStatus, isUnread };
export type { CameraLive, RealtimeState, QueuedAction, StreamLive };
export type { BatchInfo, ConnectionState } from './store';

export const realtimeStore = new RealtimeStore();
export const offlineQueue = new OfflineQueue();
export const realtime = new RealtimeClient({
  store: realtimeStore,
  getToken: () => tokens.fresh(),
  refreshToken: () => tokens.refresh(),
  onSignedOut: () => tokens.clear(),
});

realtime.onConnected(() => void offlineQueue.flush());
if (typeof window !== 'undefined') {
  window.addEventListener('online', () => {
    realtime.reconnectNow();
    void offlineQueue.flush();
  });
}

/** Subscribe a component to a slice of the real-time state (select something stable). */
export function useRealtime<T>(selector: (s: RealtimeState) => T): T {
  return useSyncExternalStore(realtimeStore.subscribe, () => selector(realtimeStore.getState()));
}

export function useCameraLive(id: string): CameraLive | undefined {
  return useRealtime((s) => s.cameras[id]);
}

export function useQueuedActions(): readonly QueuedAction[] {
  return useSyncExternalStore(offlineQueue.subscribe, offlineQueue.getSnapshot);
}

export function useStreamLive(id: string): StreamLive | undefined {
  return useRealtime((s) => s.streams[id]);
}
