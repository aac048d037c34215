import { describe, expect, it } from 'vitest';
import type { Alert } from '../../api/types';
import { groupAlerts, sourceName } from '../alertGroups';

let n = 0;
function alert(over: Partial<Alert>): Alert {
  n++;
  return {
    id: `a${n}`,
    cameraId: null,
    streamId: null,
    type: 'face-detection',
    severity: 'medium',
    message: `alert ${n}`,
    createdAt: `2026-01-01T00:00:${String(60 - n).padStart(2, '0')}Z`,
    acknowledgedAt: null,
    acknowledgedBy: null,
    hasSnapshot: false,
    metadata: {},
    ...over,
  } as Alert;
}

const names = { cameras: new Map([['c1', 'Front door']]), streams: new Map([['s2', 'Pixel (from the list)']]) };

describe('notification groups', () => {
  it('groups stream alerts under the device name the alert carries, cameras under their names', () => {
    const list = [
      alert({ streamId: 's1', metadata: { deviceName: 'Chrome on Android' } }),
      alert({ cameraId: 'c1' }),
      alert({ streamId: 's1', metadata: { deviceName: 'Chrome on Android' } }),
      alert({ streamId: 's2' }),
      alert({ streamId: 's3' }),
      alert({}),
      alert({ cameraId: 'gone', metadata: { cameraName: 'Old camera' } }),
    ];
    const groups = groupAlerts(list, names, (a) => a.id !== list[2]!.id);
    expect(groups.map((g) => [g.key, g.kind, g.name, g.alerts.length, g.unread])).toEqual([
      ['stream:s1', 'stream', 'Chrome on Android', 2, 1],
      ['camera:c1', 'camera', 'Front door', 1, 1],
      ['stream:s2', 'stream', 'Pixel (from the list)', 1, 1],
      ['stream:s3', 'stream', 'Mobile stream', 1, 1],
      ['system', 'system', 'System', 1, 1],
      ['camera:gone', 'camera', 'Old camera', 1, 1],
    ]);
  });

  it('a stream and a camera with the same id stay apart', () => {
    const groups = groupAlerts([alert({ streamId: 'x' }), alert({ cameraId: 'x' })], names, () => false);
    expect(groups.map((g) => g.key)).toEqual(['stream:x', 'camera:x']);
  });

  it('names the source for toasts', () => {
    expect(sourceName(alert({ streamId: 's9', metadata: { deviceName: '  ' } }), names)).toBe('Mobile stream');
    expect(sourceName(alert({ cameraId: 'c1' }), names)).toBe('Front door');
  });
});
