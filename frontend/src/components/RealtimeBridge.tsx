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
      // One cache write per batch (a fleet's cascade brings hundreds of cameras at once).
      const changed = new Map<string, Camera>();
      const deleted = new Set<string>();
      for (const ev of b.events) {
        if (ev.type === 'camera-status-update' && ev.camera) {
          changed.set(ev.camera.id, ev.camera);
          deleted.delete(ev.camera.id);
        } else if (ev.type === 'camera-deleted') {
          deleted.add(ev.cameraId);
          changed.delete(ev.cameraId);
        }
      }
      if (changed.size || deleted.size) {
        qc.setQueryData<Page<Camera>>(camerasKey, (old) => {
          if (!old) return old;
          const items: Camera[] = [];
          for (const c of old.items) {
            if (deleted.has(c.id)) continue;
            const cam = changed.get(c.id);
            items.push(cam ? { ...c, ...cam } : c);
            if (cam) changed.delete(c.id);
          }
          items.push(...changed.values());
          return { ...old, items };
        });
      }
      // A status for a camera this tab does not know yet: someone added it elsewhere.
      const known = qc.getQueryData<Page<Camera>>(camerasKey)?.items;
      if (known && b.statusChanged.length && !refetchTimer) {
        const ids = new Set(known.map((c) => c.id));
        if (b.statusChanged.some((id) => !ids.has(id))) {
          refetchTimer = setTimeout(() => {
            refetchTimer = null;
            void qc.invalidateQueries({ queryKey: camerasKey });
          }, 50);
        }
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
      // An NVR's own alert (offline/back) is toasted by the fleet bridge, with its cameras.
      const toastable = b.newAlerts.filter((a) => !(a.type === 'system-alert' && a.nvrId && !a.cameraId));
      if (!toastable.length) return;
      const names = new Map((known ?? []).map((c) => [c.id, c.name]));
      if (toastable.length > 3) {
        toast(`${toastable.length} new alerts`, { action: { label: 'Show', onClick: ui.openNotifications } });
      } else {
        for (const a of toastable) {
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
