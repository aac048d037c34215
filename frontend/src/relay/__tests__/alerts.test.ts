import { describe, expect, it } from 'vitest';
import type { StreamOut } from '../../api/types';
import { mergeStream } from '../../lib/streams';
import { fromRelayAlert, mergeAlerts, type StreamAlertItem } from '../alerts';

const item = (id: string, sec: number): StreamAlertItem => ({
  id,
  severity: 'low',
  message: id,
  createdAt: `2030-01-01T00:00:${String(sec).padStart(2, '0')}Z`,
  kind: 'ml-alert',
  confidence: null,
});

describe('stream alert list', () => {
  it('merges newest first, one entry per id, bounded', () => {
    const list = mergeAlerts([item('a', 1), item('b', 3)], [item('c', 2), { ...item('a', 1), message: 'a again' }]);
    expect(list.map((a) => a.id)).toEqual(['b', 'c', 'a']);
    expect(list[2]?.message).toBe('a again');
    expect(mergeAlerts([], [item('x', 1), item('y', 2), item('z', 3)], 2).map((a) => a.id)).toEqual(['z', 'y']);
  });

  it('reads a relay alert message (confidence from its metadata)', () => {
    const a = fromRelayAlert({
      type: 'alert',
      id: 'r1',
      streamId: 's',
      alertType: 'ml-alert',
      severity: 'high',
      message: 'person',
      metadata: { confidence: 0.75 },
      timestamp: '2030-01-01T00:00:05Z',
      source: 'api_key:k1',
    });
    expect(a).toEqual({ id: 'r1', severity: 'high', message: 'person', createdAt: '2030-01-01T00:00:05Z', kind: 'ml-alert', confidence: 0.75 });
  });
});

describe('mergeStream', () => {
  const rest: StreamOut = {
    id: 's',
    deviceName: 'Old name',
    deviceType: 'android',
    status: 'offline',
    lastSeen: '2030-01-01T00:00:00Z',
    metadata: {},
    faceDetectionEnabled: false,
    ownerId: 'u',
    viewers: 2,
    mlConsumers: 0,
    createdAt: '2030-01-01T00:00:00Z',
    updatedAt: '2030-01-01T00:00:10Z',
  };

  it('a newer hub status wins, an older one does not', () => {
    expect(mergeStream(rest, { status: 'streaming', lastSeen: null, deviceName: 'Pixel', timestamp: '2030-01-01T00:00:11Z' })).toMatchObject({
      status: 'streaming',
      deviceName: 'Pixel',
      lastSeen: '2030-01-01T00:00:00Z',
      viewers: 2,
    });
    expect(mergeStream(rest, { status: 'streaming', lastSeen: null, deviceName: 'Pixel', timestamp: '2030-01-01T00:00:09Z' })).toBe(rest);
    expect(mergeStream(rest, undefined)).toBe(rest);
  });
});
