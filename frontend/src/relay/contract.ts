// TEMPORARY stand-in for the REST stream types until branch i10-rest's router puts them in
// the OpenAPI document (StreamOut is in contracts/resources.py; no route uses it yet).
// Deleted on regeneration.
type StreamStatusT = 'offline' | 'online' | 'streaming';
export type StreamOut = { id: string; deviceName: string; deviceType: string | null; status: StreamStatusT; lastSeen: string | null; metadata: { resolution?: string; fps?: number; [k: string]: unknown }; faceDetectionEnabled: boolean; ownerId: string | null; viewers: number; mlConsumers: number; createdAt: string; updatedAt: string };
export type StreamRegister = { deviceName: string; deviceType: string; metadata?: { resolution?: string; fps?: number } };
export type StreamRegistered = { streamId: string; message: string; stream: StreamOut };
export type StreamUpdate = { deviceName?: string | null; faceDetectionEnabled?: boolean | null };
