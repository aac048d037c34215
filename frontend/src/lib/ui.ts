/** App-wide UI state: which alert detail is open, whether the notification panel is. */
import { useSyncExternalStore } from 'react';
import type { Alert } from '../api/types';

interface UiState {
  notificationsOpen: boolean;
  /** Alert shown in the detail dialog (the full object when we have it). */
  alert: { id: string; data?: Alert } | null;
}

let state: UiState = { notificationsOpen: false, alert: null };
const listeners = new Set<() => void>();

function set(patch: Partial<UiState>) {
  state = { ...state, ...patch };
  for (const l of listeners) l();
}

export const ui = {
  openNotifications: () => set({ notificationsOpen: true }),
  closeNotifications: () => set({ notificationsOpen: false }),
  toggleNotifications: () => set({ notificationsOpen: !state.notificationsOpen }),
  openAlert: (id: string, data?: Alert) => set({ alert: data ? { id, data } : { id } }),
  closeAlert: () => set({ alert: null }),
};

export function useUi<T>(sel: (s: UiState) => T): T {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => sel(state),
  );
}
