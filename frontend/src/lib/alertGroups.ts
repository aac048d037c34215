/** The notification panel's groups: one per camera, one per mobile stream (under its device
 * name), one for system alerts. */
import type { Alert } from '../api/types';

export interface AlertGroup {
  /** `camera:<id>`, `stream:<id>` or `system`. */
  key: string;
  kind: 'camera' | 'stream' | 'system';
  name: string;
  alerts: Alert[];
  unread: number;
}

export interface GroupNames {
  cameras: ReadonlyMap<string, string>;
  streams: ReadonlyMap<string, string>;
}

function metaString(a: Alert, key: string): string | null {
  const v = (a.metadata as Record<string, unknown>)[key];
  return typeof v === 'string' && v.trim() ? v : null;
}

/** Name of the source of `a`: a stream's device name as the alert carries it (`metadata.deviceName`),
 * else as the stream list knows it; a camera's name. */
export function sourceName(a: Alert, names: GroupNames): string {
  if (a.cameraId) return names.cameras.get(a.cameraId) ?? metaString(a, 'cameraName') ?? 'Unknown camera';
  if (a.streamId) return metaString(a, 'deviceName') ?? names.streams.get(a.streamId) ?? 'Mobile stream';
  return 'System';
}

/** Groups of `alerts` (newest first in, groups ordered by their newest alert out). */
export function groupAlerts(alerts: readonly Alert[], names: GroupNames, isUnread: (a: Alert) => boolean): AlertGroup[] {
  const m = new Map<string, AlertGroup>();
  for (const a of alerts) {
    const kind = a.cameraId ? 'camera' : a.streamId ? 'stream' : 'system';
    const key = kind === 'camera' ? `camera:${a.cameraId}` : kind === 'stream' ? `stream:${a.streamId}` : 'system';
    let g = m.get(key);
    if (!g) {
      g = { key, kind, name: sourceName(a, names), alerts: [], unread: 0 };
      m.set(key, g);
    }
    g.alerts.push(a);
    if (isUnread(a)) g.unread++;
  }
  return [...m.values()];
}
