/**
 * Connects the real-time core to the rest of the app while signed in: starts the socket,
 * loads recent alerts into the notification list, keeps TanStack Query in step with hub
 * events, raises toasts (and the optional sound) for new alerts, and puts the unread count
 * in the tab title.
 */
import { useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { toast } from 'sonner';
import { api } from '../api/endpoints';
import type { Camera, Page, SystemHealth } from '../api/types';
import { sourceName } from '../lib/alertGroups';
import { camerasKey } from '../lib/cameras';
import { getPrefs } from '../lib/prefs';
import { playChime } from '../lib/sound';
import { ui } from '../lib/ui';
import { realtime, realtimeStore, useRealtime } from '../realtime';

export function RealtimeBridge() {
  const qc = useQueryClient();
  const listVersion = useRealtime((s) => s.cameraListVersion);
  const unread = useRealtime((s) => s.unreadCount);

  useEffect(() => {
    realtime.start();
    let cancelled = false;
    api
      .listAlerts({ limit: 50 })
      .then((p) => {
        if (cancelled) return;
        realtimeStore.seedAlerts(p.items);
        realtime.noteAlertSeen(p.items[0]?.id);
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
      realtime.stop();
    };
  }, []);

  // Camera list changed elsewhere (created/edited/deleted in another browser, or we were
  // disconnected for a while): refetch.
  useEffect(() => {
    if (listVersion > 0) {
      void qc.invalidateQueries({ queryKey: camerasKey });
      void qc.invalidateQueries({ queryKey: ['alerts'] });
    }
  }, [listVersion, qc]);

  useEffect(() => {
    let refetchTimer: ReturnType<typeof setTimeout> | null = null;
    const off = realtimeStore.onBatch((b) => {
      // Camera created/edited elsewhere: the hub sends the whole camera; deleted: its id.
      for (const ev of b.events) {
        const cam = ev.type === 'camera-status-update' ? (ev as { camera?: Camera }).camera : undefined;
        if (cam && typeof cam.id === 'string') {
          qc.setQueryData<Page<Camera>>(camerasKey, (old) => {
            if (!old) return old;
            const i = old.items.findIndex((c) => c.id === cam.id);
            const items = i < 0 ? [...old.items, cam] : old.items.map((c, j) => (j === i ? { ...c, ...cam } : c));
            return { ...old, items };
          });
        } else if (ev.type === 'camera-deleted') {
          const id = (ev as { cameraId?: string }).cameraId;
          qc.setQueryData<Page<Camera>>(camerasKey, (old) => (old ? { ...old, items: old.items.filter((c) => c.id !== id) } : old));
        }
      }
      // A status for a camera this tab does not know yet: someone added it elsewhere.
      const known = qc.getQueryData<Page<Camera>>(camerasKey)?.items;
      if (known && b.statusChanged.some((id) => !known.some((c) => c.id === id)) && !refetchTimer) {
        refetchTimer = setTimeout(() => {
          refetchTimer = null;
          void qc.invalidateQueries({ queryKey: camerasKey });
        }, 50);
      }
      for (const ev of b.events) {
        if (ev.type === 'health-update') {
          const { type: _t, ...h } = ev as { type: string } & SystemHealth;
          void _t;
          qc.setQueryData(['health'], h);
        }
      }
      if (!b.newAlerts.length) return;
      void qc.invalidateQueries({ queryKey: ['alerts'] });
      const names = new Map((known ?? []).map((c) => [c.id, c.name]));
      if (b.newAlerts.length > 3) {
        toast(`${b.newAlerts.length} new alerts`, { action: { label: 'Show', onClick: ui.openNotifications } });
      } else {
        for (const a of b.newAlerts) {
          const cam = sourceName(a, { cameras: names, streams: new Map() });
          const text = a.message || 'Face detected';
          // The server's message ("2 faces detected on <camera>") names the camera already.
          toast(text.endsWith(` on ${cam}`) ? text : `${text} — ${cam}`, {
            id: a.id,
            description: new Date(a.createdAt).toLocaleTimeString(),
            action: {
              label: 'View',
              onClick: () => {
                realtimeStore.markRead(a.id);
                ui.openAlert(a.id, a);
              },
            },
          });
        }
      }
      if (getPrefs().sound) playChime();
    });
    return () => {
      off();
      if (refetchTimer) clearTimeout(refetchTimer);
    };
  }, [qc]);

  useEffect(() => {
    document.title = unread > 0 ? `(${unread > 99 ? '99+' : unread}) Beholder` : 'Beholder';
  }, [unread]);
  useEffect(() => () => void (document.title = 'Beholder'), []);

  return null;
}
