import { useIsFetching, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useCallback, useMemo } from 'react';
import { toast } from 'sonner';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/http';
import type { Alert, Camera, CameraStatus, Page, StreamStats } from '../api/types';
import { acceptedStatus, offlineQueue, realtimeStore, useCameraLive, useRealtime } from '../realtime';
import { SupersededError } from '../realtime/offlineQueue';

export const camerasKey = ['cameras'] as const;

export function useCameras(enabled = true) {
  return useQuery({
    queryKey: camerasKey,
    queryFn: api.listCameras,
    select: (p: Page<Camera>) => p.items,
    refetchInterval: 30_000,
    // The hub patches this list in place (RealtimeBridge keeps unchanged cameras as they
    // were): deep-comparing 8,000 cameras on every hub batch cost more than the rest.
    structuralSharing: false,
    enabled,
  });
}

let pageDataIn = false;

/** False until the page's own first requests are answered (then true for good): what the
 * layout loads for itself waits for them (8,000 cameras are 4 MB the NVR page must not
 * queue behind). */
function usePageDataIn(): boolean {
  const fetching = useIsFetching();
  if (!pageDataIn && fetching === 0) pageDataIn = true;
  return pageDataIn;
}

/** Camera names for the layout (notifications, alert details); a page that shows cameras
 * loads the list itself at once. */
export function useCameraNames(): Map<string, string> {
  const { data } = useCameras(usePageDataIn());
  return useMemo(() => new Map((data ?? []).map((c) => [c.id, c.name])), [data]);
}

export interface CameraView {
  status: CameraStatus;
  detail: string | null;
  errorCode: string | null;
  attempt: number | null;
  stats: StreamStats | null;
  /** The worker holding the camera (null: none, or not known). */
  workerId: string | null;
}

/** The camera as REST last saw it, overlaid with what the hub said since. */
export function useCameraView(c: Camera): CameraView {
  const live = useCameraLive(c.id);
  const liveStats = useRealtime((s) => s.stats[c.id]);
  return useMemo(() => {
    const useLive = live && (!live.timestamp || !c.updatedAt || live.timestamp >= c.updatedAt);
    return {
      status: useLive ? live.status : c.status,
      detail: useLive ? live.details : c.statusDetail ?? null,
      errorCode: useLive ? live.errorCode : c.errorCode ?? null,
      attempt: useLive ? live.attempt : null,
      stats: liveStats ?? c.stats ?? null,
      workerId: liveWorker(live, !!useLive) ?? c.workerId ?? null,
    };
  }, [c, live, liveStats]);
}

/** The worker of the newest hub event, when it named one. */
export function liveWorker(live: { workerId?: string | null } | undefined, useLive: boolean): string | null {
  return useLive && live?.workerId ? live.workerId : null;
}

/** The merged status for lists (filters, counts) without a hook per row. */
export function mergedStatus(c: Camera, cameras: ReturnType<typeof realtimeStore.getState>['cameras']): CameraStatus {
  const live = cameras[c.id];
  return live && (!live.timestamp || !c.updatedAt || live.timestamp >= c.updatedAt) ? live.status : c.status;
}

function patchCamera(qc: QueryClient, id: string, patch: Partial<Camera>): void {
  qc.setQueryData<Page<Camera>>(camerasKey, (old) => (old ? { ...old, items: old.items.map((c) => (c.id === id ? { ...c, ...patch } : c)) } : old));
}

function reportError(e: unknown, label: string, retry?: () => void): void {
  if (e instanceof SupersededError) return;
  const opts = retry && (!(e instanceof ApiError) || e.retryable) ? { action: { label: 'Retry', onClick: retry } } : {};
  toast.error(`${label}: ${errorMessage(e)}`, opts);
}

function queuedToast(label: string): void {
  toast.info(`You are offline. “${label}” will be sent when the connection is back.`);
}

export function useCameraActions() {
  const qc = useQueryClient();

  const command = useCallback(
    (cam: Pick<Camera, 'id' | 'name'>, cmd: 'start' | 'stop' | 'restart') => {
      const verb = cmd === 'start' ? 'Start' : cmd === 'stop' ? 'Stop' : 'Restart';
      const label = `${verb} ${cam.name}`;
      const run = (): void => {
        offlineQueue
          .run(`camera:${cam.id}:power`, label, () => api.cameraCommand(cam.id, cmd), () => queuedToast(label))
          .then((r) => {
            // Show the accepted state at once; the hub's status events follow.
            realtimeStore.dispatch(acceptedStatus(cam.id, r?.status ?? (cmd === 'stop' ? 'STOPPING' : 'STARTING')));
          })
          .catch((e: unknown) => reportError(e, `Could not ${verb.toLowerCase()} ${cam.name}`, run));
      };
      run();
    },
    [],
  );

  const setFaceDetection = useCallback(
    (cam: Pick<Camera, 'id' | 'name' | 'faceDetectionEnabled'>, enabled: boolean) => {
      const label = `Face detection ${enabled ? 'on' : 'off'} for ${cam.name}`;
      patchCamera(qc, cam.id, { faceDetectionEnabled: enabled });
      offlineQueue
        .run(`camera:${cam.id}:face`, label, () => api.setFaceDetection(cam.id, enabled), () => queuedToast(label))
        .catch((e: unknown) => {
          if (e instanceof SupersededError) return;
          patchCamera(qc, cam.id, { faceDetectionEnabled: !enabled });
          reportError(e, `Could not change face detection for ${cam.name}`);
        });
    },
    [qc],
  );

  const acknowledge = useCallback(
    (a: Alert, onDone?: (a: Alert) => void) => {
      const label = 'Acknowledge alert';
      offlineQueue
        .run(`alert:${a.id}:ack`, label, () => api.acknowledgeAlert(a.id), () => queuedToast(label))
        .then((updated) => {
          const merged = { ...a, ...(updated ?? {}), acknowledgedAt: updated?.acknowledgedAt ?? new Date().toISOString() };
          realtimeStore.upsertAlert(merged);
          void qc.invalidateQueries({ queryKey: ['alerts'] });
          onDone?.(merged);
        })
        .catch((e: unknown) => reportError(e, 'Could not acknowledge the alert'));
    },
    [qc],
  );

  return { command, setFaceDetection, acknowledge };
}
