/**
 * The fleet pages' shared state: one FleetStore fed by the hub, the REST queries (polled
 * every 10 s while the socket is down) and hooks that merge both.
 */
import { useQuery } from '@tanstack/react-query';
import { useMemo, useSyncExternalStore } from 'react';
import { useRealtime } from '../realtime';
import { fleetApi } from './api';
import { fleetKeys } from './keys';
import { fallbackState, type FallbackState } from './polling';
import { FleetStore, type FleetState } from './store';
import type { Nvr, SummaryStats } from './types';

export const fleetStore = new FleetStore();

export { fleetKeys };

export function useFleet<T>(selector: (s: FleetState) => T): T {
  return useSyncExternalStore(fleetStore.subscribe, () => selector(fleetStore.getState()));
}

export function useFallback(): FallbackState {
  const connection = useRealtime((s) => s.connection);
  return useMemo(() => fallbackState(connection), [connection]);
}

/** Every NVR (REST), each overlaid with the hub's newer description. */
export function useNvrs() {
  const fb = useFallback();
  const q = useQuery({ queryKey: fleetKeys.nvrs, queryFn: () => fleetApi.allNvrs(), refetchInterval: fb.refetchInterval });
  const live = useFleet((s) => s.nvrs);
  const items = useMemo(() => mergeNvrs(q.data?.items ?? [], live), [q.data, live]);
  return { query: q, items };
}

export function mergeNvrs(rest: readonly Nvr[], live: Readonly<Record<string, Nvr>>): Nvr[] {
  const out: Nvr[] = [];
  for (const n of rest) {
    const l = live[n.id];
    out.push(l && l.updatedAt >= n.updatedAt ? l : n);
  }
  return out;
}

/** The summary: REST first, then the hub's pushes (whichever is newer). */
export function useSummary(): { summary: SummaryStats | null; isError: boolean; error: unknown; refetch: () => void } {
  const fb = useFallback();
  const q = useQuery({ queryKey: fleetKeys.summary, queryFn: fleetApi.summary, refetchInterval: fb.refetchInterval });
  const live = useFleet((s) => s.summary);
  const summary = !q.data ? live : !live || q.data.timestamp > live.timestamp ? q.data : live;
  return { summary, isError: q.isError, error: q.error, refetch: () => void q.refetch() };
}

export type { FleetState, FleetEvent } from './store';
