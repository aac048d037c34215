/**
 * Toasts for NVRs going offline or coming back, from one hub batch: one toast per NVR, or
 * one summary toast when many change at once (a site-wide outage must not bury the screen).
 * Pure, so the tests can check the wording and the grouping.
 */
import type { ServerEvent } from '../realtime/protocol';
import type { NvrOnlineOffline } from './types';

export interface ToastSpec {
  id: string;
  kind: 'error' | 'success';
  title: string;
  description: string;
  nvrId: string | null;
  /** Play the alert sound (NVR lost, when the user turned sound on). */
  sound: boolean;
  /**
   * Stay until dismissed or replaced: an NVR offline stays on screen while it is down (its
   * "back online" toast has the same id and replaces it), so an operator who looks away
   * for a few seconds still sees it.
   */
  sticky: boolean;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function toastsFor(events: readonly ServerEvent[], maxSingle = 3): ToastSpec[] {
  const changes = events.filter((e): e is Extract<ServerEvent, NvrOnlineOffline> => e.type === 'nvr_online' || e.type === 'nvr_offline');
  // The last word per NVR in this batch is what counts (a flap inside one frame is no news).
  const last = new Map<string, NvrOnlineOffline>();
  for (const e of changes) last.set(e.nvrId, e);
  const offline = [...last.values()].filter((e) => e.type === 'nvr_offline');
  const online = [...last.values()].filter((e) => e.type === 'nvr_online');
  const out: ToastSpec[] = [];
  const group = (list: NvrOnlineOffline[], off: boolean) => {
    if (!list.length) return;
    if (list.length > maxSingle) {
      const cams = list.reduce((n, e) => n + e.camerasUpdated, 0);
      out.push({
        id: `nvrs-${off ? 'offline' : 'online'}-${list[0]!.timestamp}`,
        kind: off ? 'error' : 'success',
        title: `${plural(list.length, 'NVR')} ${off ? 'offline' : 'back online'}`,
        description: `${plural(cams, 'camera')} ${off ? 'affected' : 'back'}`,
        nvrId: null,
        sound: off,
        sticky: false,
      });
      return;
    }
    for (const e of list) {
      out.push({
        // One toast per NVR: a newer state replaces the older toast.
        id: `nvr-${e.nvrId}`,
        kind: off ? 'error' : 'success',
        title: `NVR ${e.deviceName || e.hostname} ${off ? 'offline' : 'back online'}`,
        description: `${plural(e.camerasUpdated, 'camera')} ${off ? 'affected' : 'back'}${e.region ? ` · ${e.region}` : ''}`,
        nvrId: e.nvrId,
        sound: off,
        sticky: off,
      });
    }
  };
  group(offline, true);
  group(online, false);
  return out;
}
