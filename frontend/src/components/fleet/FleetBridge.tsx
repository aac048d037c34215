/**
 * Connects the fleet state to the hub while signed in: feeds each hub batch to the fleet
 * store, keeps the NVR camera lists in the query cache in step, raises the NVR toasts (with
 * the user's sound preference) and resynchronises over REST when the socket comes back.
 */
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { useNavigate } from 'react-router';
import { toast } from 'sonner';
import { fleetKeys, fleetStore, useFleet } from '../../fleet';
import { cameBack } from '../../fleet/polling';
import { toastsFor } from '../../fleet/toasts';
import type { NvrCameraList } from '../../fleet/types';
import { getPrefs } from '../../lib/prefs';
import { playChime } from '../../lib/sound';
import { realtimeStore, useRealtime, type ConnectionState } from '../../realtime';

export function FleetBridge() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const connection = useRealtime((s) => s.connection);
  const listVersion = useFleet((s) => s.listVersion);
  const prev = useRef<ConnectionState | null>(null);

  useEffect(() => {
    const off = realtimeStore.onBatch((b) => {
      fleetStore.apply(b.events, b.newAlerts);
      for (const ev of b.events) {
        if (ev.type !== 'camera-status-update') continue;
        const cam = ev.camera;
        if (!cam?.nvrId) continue;
        qc.setQueryData<NvrCameraList>(fleetKeys.nvrCameras(cam.nvrId), (old) => {
          if (!old) return old;
          const i = old.items.findIndex((c) => c.id === cam.id);
          return { ...old, items: i < 0 ? [...old.items, cam] : old.items.map((c, j) => (j === i ? { ...c, ...cam } : c)) };
        });
      }
      const specs = toastsFor(b.events);
      for (const t of specs) {
        const show = t.kind === 'error' ? toast.error : toast.success;
        show(t.title, {
          id: t.id,
          description: t.description,
          duration: t.sticky ? Number.POSITIVE_INFINITY : undefined,
          action: { label: 'View', onClick: () => navigate(t.nvrId ? `/nvrs?nvr=${encodeURIComponent(t.nvrId)}` : '/nvrs') },
        });
      }
      if (specs.some((t) => t.sound) && getPrefs().sound) playChime();
    });
    return off;
  }, [qc, navigate]);

  // The socket came back: what we show may be stale (REST is the truth), refetch once.
  useEffect(() => {
    if (cameBack(prev.current, connection)) {
      void qc.invalidateQueries({ queryKey: fleetKeys.nvrs });
      void qc.invalidateQueries({ queryKey: fleetKeys.summary });
    }
    prev.current = connection;
  }, [connection, qc]);

  useEffect(() => {
    if (listVersion > 0) void qc.invalidateQueries({ queryKey: fleetKeys.nvrs, exact: true });
  }, [listVersion, qc]);

  useEffect(() => () => fleetStore.reset(), []);
  return null;
}
