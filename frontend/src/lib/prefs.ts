/** Small user preferences kept in this browser (localStorage). */
import { useSyncExternalStore } from 'react';

export interface Prefs {
  /** Play a sound on new alerts (off by default). */
  sound: boolean;
  /** Dashboard columns: 0 = automatic (1–4 by width). */
  columns: 0 | 1 | 2 | 3 | 4;
  /** Dashboard tiles whose video the user hid. */
  hiddenVideo: Record<string, true>;
  camerasView: 'table' | 'grid';
}

const KEY = 'beholder.prefs';
const DEFAULTS: Prefs = { sound: false, columns: 0, hiddenVideo: {}, camerasView: 'table' };
const listeners = new Set<() => void>();

function load(): Prefs {
  try {
    const raw = localStorage.getItem(KEY);
    if (raw) return { ...DEFAULTS, ...(JSON.parse(raw) as Partial<Prefs>) };
  } catch {
    /* ignore */
  }
  return DEFAULTS;
}

let current: Prefs = load();

export function getPrefs(): Prefs {
  return current;
}

export function setPrefs(patch: Partial<Prefs>): void {
  current = { ...current, ...patch };
  try {
    localStorage.setItem(KEY, JSON.stringify(current));
  } catch {
    /* ignore */
  }
  for (const l of listeners) l();
}

export function usePrefs(): Prefs {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    getPrefs,
  );
}
