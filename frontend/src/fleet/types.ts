/**
 * Wire types of the NVR fleet (issue 11), generated from the server's schema
 * (contracts/nvr.py, contracts/hub.py). This file only gives them the names the pages use.
 */
import type * as G from '../api/generated/types.gen';

export type Nvr = G.NvrOut;
export type NvrStatus = Nvr['status'];
export type CameraCounts = G.CameraCounts;
export type SummaryStats = G.SummaryStats;
export type RegionStats = G.RegionStats;
export type HourBucket = G.AlertHour;
/** Hub `nvr_online` / `nvr_offline`. */
export type NvrOnlineOffline = G.NvrConnectivity;
export type NvrStatusUpdate = G.NvrStatusUpdate;
export type NvrDeleted = G.NvrDeleted;
export type SummaryUpdated = G.SummaryUpdated;

/** A camera as the fleet pages see it (CameraOut carries its NVR fields). */
export type FleetCamera = G.CameraOut;
export type Reachability = NonNullable<FleetCamera['reachability']>;

// contracts/nvr.py's REST bodies; the schema publishes them with the /api/nvrs routes
// (i11-api), then these four become aliases like the rest.
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
  name: string;
  nvrId: string;
  installCommand: string;
  createdAt: string;
}
