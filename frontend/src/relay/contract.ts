// TEMPORARY stand-in for the generated relay types until branch i10-rest publishes
// RelayClientMessage / RelayServerMessage in the OpenAPI document. Deleted on regeneration.
type Severity = 'low' | 'medium' | 'high' | 'critical';
type StreamStatusT = 'offline' | 'online' | 'streaming';
export type RelayClientMessage =
  | { type: 'auth'; token: string }
  | { type: 'register'; clientType: 'mobile'; streamId: string; produces: 'video'[]; consumes: 'alerts'[] }
  | { type: 'subscribe'; clientType: 'dashboard' | 'ml-service'; streamId: string; consumes: ('video' | 'alerts')[]; produces?: 'alerts'[] | null; binary?: boolean | null }
  | { type: 'unsubscribe'; streamId: string }
  | { type: 'ping'; ts?: number | null }
  | { type: 'pong'; ts?: number | null };
export type RelayServerMessage =
  | { type: 'auth-ok'; principal: { name: string; role: string }; pingInterval: number }
  | { type: 'registered'; streamId: string }
  | { type: 'subscribed'; streamId: string; consumes: string[] }
  | { type: 'unsubscribed'; streamId: string }
  | { type: 'video-frame'; streamId: string; data: string; timestamp: number; seq: number }
  | { type: 'alert'; id: string; streamId: string; alertType: 'ml-alert' | 'face-detection'; severity: Severity; message: string; metadata: { deviceName?: string; confidence?: number }; timestamp: string; source: string | null }
  | { type: 'stream-status'; streamId: string; status: StreamStatusT; lastSeen: string | null }
  | { type: 'producer-replaced'; streamId: string }
  | { type: 'stream-deleted'; streamId: string }
  | { type: 'ping'; ts?: number | null }
  | { type: 'pong'; ts?: number | null }
  | { type: 'error'; error: { code: string; message: string; severity: string; correlationId: string | null }; streamId?: string | null };
// REST (also temporary)
export type StreamStatus = 'offline' | 'online' | 'streaming';
export type StreamOut = { id: string; deviceName: string; deviceType: string; status: StreamStatus; lastSeen: string | null; metadata: { resolution?: string; fps?: number; [k: string]: unknown }; faceDetectionEnabled: boolean; ownerId: string | null; viewers: number; mlConsumers: number; createdAt: string; updatedAt: string };
export type StreamRegister = { deviceName: string; deviceType: string; metadata?: { resolution?: string; fps?: number } };
export type StreamRegistered = { streamId: string; message: string; stream: StreamOut };
export type StreamUpdate = { deviceName?: string | null; faceDetectionEnabled?: boolean | null };
export type StreamStatusUpdate = { type: 'stream-status-update'; streamId: string; status: StreamStatus; lastSeen: string | null; stream: StreamOut | null; timestamp: string };
