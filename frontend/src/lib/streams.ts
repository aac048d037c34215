/** Mobile streams (issue 10): the list over REST, overlaid with the hub's live status. */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useMemo } from 'react';
import { toast } from 'sonner';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/http';
import type { Page, StreamOut } from '../api/types';
import { useRealtime, type StreamLive } from '../realtime';

export const streamsKey = ['streams'] as const;

export function useStreams(enabled = true) {
  const qc = useQueryClient();
  const version = useRealtime((s) => s.streamListVersion);
  useEffect(() => {
    if (version > 0) void qc.invalidateQueries({ queryKey: streamsKey });
  }, [version, qc]);
  return useQuery({
    queryKey: streamsKey,
    queryFn: () => api.listStreams({ limit: 200 }),
    select: (p: Page<StreamOut>) => p.items,
    // Viewer and ML-consumer counts move without a hub event.
    refetchInterval: 15_000,
    enabled,
  });
}

/** Stream id → device name, for alerts of streams (the alert's own `metadata.deviceName` first). */
export function useStreamNames(enabled = true): Map<string, string> {
  const { data } = useStreams(enabled);
  return useMemo(() => new Map((data ?? []).map((s) => [s.id, s.deviceName])), [data]);
}

/** The stream as REST last saw it, overlaid with what the hub said since (newer wins). */
export function mergeStream(s: StreamOut, live: StreamLive | undefined): StreamOut {
  if (!live) return s;
  if (live.timestamp && s.updatedAt && live.timestamp < s.updatedAt) return s;
  return { ...s, deviceName: live.deviceName || s.deviceName, status: live.status, lastSeen: live.lastSeen ?? s.lastSeen };
}

function patchStream(qc: ReturnType<typeof useQueryClient>, s: StreamOut): void {
  qc.setQueryData<Page<StreamOut>>(streamsKey, (old) => (old ? { ...old, items: old.items.map((x) => (x.id === s.id ? s : x)) } : old));
  qc.setQueryData(['stream', s.id], s);
}

export function useStreamActions() {
  const qc = useQueryClient();
  const setFaceDetection = useCallback(
    async (s: StreamOut, enabled: boolean) => {
      patchStream(qc, { ...s, faceDetectionEnabled: enabled });
      try {
        patchStream(qc, await api.updateStream(s.id, { faceDetectionEnabled: enabled }));
      } catch (e) {
        patchStream(qc, s);
        toast.error(`Face detection on ${s.deviceName}: ${errorMessage(e)}`);
      }
    },
    [qc],
  );
  const remove = useCallback(
    async (s: StreamOut) => {
      await api.deleteStream(s.id);
      qc.setQueryData<Page<StreamOut>>(streamsKey, (old) => (old ? { ...old, items: old.items.filter((x) => x.id !== s.id) } : old));
      qc.removeQueries({ queryKey: ['stream', s.id] });
      toast.success(`Stream “${s.deviceName}” deleted`);
    },
    [qc],
  );
  return { setFaceDetection, remove };
}
