/** Complete fleet hub messages and REST bodies for the tests. */
import type { ServerEvent } from '../../realtime/protocol';
import type { FleetCamera, Nvr, SummaryStats } from '../types';

export const T0 = '2030-01-01T00:00:00.000Z';
export const at = (sec: number) => new Date(Date.parse(T0) + sec * 1000).toISOString();

export function nvr(id: string, extra: Partial<Nvr> = {}): Nvr {
  return {
    id,
    hostname: `${id}-host`,
    deviceName: `Recorder ${id}`,
    region: 'north',
    site: null,
    model: null,
    firmware: null,
    status: 'online',
    lastSeen: T0,
    cameraCounts: { total: 4, online: 4, offline: 0, unknown: 0, byStatus: { PROCESSING: 4 } },
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  };
}

export function nvrStatus(n: Nvr): ServerEvent {
  return { type: 'nvr_status_update', nvr: n, timestamp: n.updatedAt };
}

export function nvrConnectivity(id: string, online: boolean, camerasUpdated: number, sec = 0): ServerEvent {
  return { type: online ? 'nvr_online' : 'nvr_offline', nvrId: id, hostname: `${id}-host`, deviceName: `Recorder ${id}`, region: 'north', camerasUpdated, timestamp: at(sec) };
}

export function summary(sec: number, offlineCameras = 0): SummaryStats {
  return {
    nvrs: { total: 2, online: 2, offline: 0 },
    cameras: { total: 8, online: 8 - offlineCameras, offline: offlineCameras, unknown: 0, byStatus: { PROCESSING: 8 } },
    regions: [{ region: 'north', nvrs: 2, nvrsOnline: 2, cameras: 8, camerasOnline: 8 - offlineCameras }],
    alertsByHour: [],
    alertsToday: 0,
    timestamp: at(sec),
  };
}

export function summaryUpdated(s: SummaryStats): ServerEvent {
  return { type: 'stats:updated', summary: s };
}

export function fleetCamera(id: string, reachability: FleetCamera['reachability'], extra: Partial<FleetCamera> = {}): FleetCamera {
  return {
    id,
    name: `Camera ${id}`,
    rtspUrl: 'rtsp://10.0.0.1/x',
    location: null,
    enabled: true,
    faceDetectionEnabled: false,
    status: 'PROCESSING',
    createdAt: T0,
    updatedAt: T0,
    nvrId: 'n1',
    nvrChannel: 1,
    reachability,
    reachabilityDetail: null,
    ...extra,
  } as FleetCamera;
}

export function cameraUpdate(cam: FleetCamera, sec = 0): ServerEvent {
  return {
    type: 'camera-status-update',
    cameraId: cam.id,
    status: cam.status,
    errorCode: null,
    details: null,
    attempt: null,
    stats: null,
    workerId: null,
    camera: cam,
    timestamp: at(sec),
    correlationId: null,
  };
}
