/**
 * Wire types of the NVR fleet (issue 11): the NVR REST resource, the summary statistics and
 * the hub messages of the `nvrs` topic. Written against the documented contract until the
 * server's schema carries them; then these become aliases of the generated types.
 */
import type { Camera, CameraStatus } from '../api/types';

export type NvrStatus = 'online' | 'offline';
export type Reachability = 'online' | 'offline' | 'unknown';

export interface CameraCounts {
  total: number;
  online: number;
  offline: number;
  unknown: number;
  byStatus: Partial<Record<CameraStatus, number>>;
}

export interface Nvr {
  id: string;
  hostname: string;
  deviceName: string | null;
  region: string | null;
  site: string | null;
  model: string | null;
  firmware: string | null;
  status: NvrStatus;
  lastSeen: string | null;
  cameraCounts: CameraCounts;
  createdAt: string;
  updatedAt: string | null;
}

export interface NvrList {
  items: Nvr[];
  nextCursor?: string | null;
  counts: { status: Record<string, number>; region: Record<string, number> };
}

export interface NvrCreate {
  hostname: string;
  deviceName?: string | null;
  region?: string | null;
  site?: string | null;
}
export type NvrUpdate = Partial<NvrCreate>;

export interface NvrKeyCreated {
  key: string;
  keyId: string;
  installCommand: string;
}

export interface RegionStats {
  region: string;
  nvrs: number;
  nvrsOnline: number;
  cameras: number;
  camerasOnline: number;
}

export interface HourBucket {
  hour: string;
  byType: Record<string, number>;
  bySeverity: Record<string, number>;
  total: number;
}

export interface SummaryStats {
  nvrs: { total: number; online: number; offline: number };
  cameras: { total: number; online: number; offline: number; unknown: number; byStatus: Partial<Record<CameraStatus, number>> };
  regions: RegionStats[];
  alertsByHour: HourBucket[];
  alertsToday: number;
  timestamp: string;
}

export interface NvrOnlineOffline {
  type: 'nvr_online' | 'nvr_offline';
  nvrId: string;
  hostname: string;
  deviceName: string | null;
  region: string | null;
  camerasUpdated: number;
  timestamp: string;
}

export type NvrStatusUpdate = { type: 'nvr_status_update' } & Nvr;
export interface SummaryUpdated {
  type: 'stats:updated';
  summary: SummaryStats;
}

export type FleetHubMessage = NvrOnlineOffline | NvrStatusUpdate | SummaryUpdated;

/** A camera as the fleet pages see it (REST CameraOut with its NVR fields). */
export type FleetCamera = Camera & {
  nvrId?: string | null;
  nvrChannel?: number | null;
  reachability?: Reachability;
  reachabilityDetail?: string | null;
};
