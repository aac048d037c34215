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
export type FleetCamera = G.CameraOut & { workerId?: string | null };
export type Reachability = NonNullable<FleetCamera['reachability']>;

export type NvrList = G.NvrList;
export type NvrCameraList = G.NvrCameraList;
export type NvrCreate = G.NvrCreate;
export type NvrUpdate = G.NvrPatch;
export type NvrKeyCreated = G.NvrKeyCreated;
export type NvrQuery = NonNullable<G.ListNvrsApiNvrsGetData['query']>;
