/**
 * Messages of the mobile relay `/api/streams/ws` (issue 10). Both directions are generated
 * from the server's schema (`RelayClientMessage`, `RelayServerMessage` in contracts/relay.py);
 * this file only names the members the app uses.
 */
import type { RelayClientMessage, RelayServerMessage } from '../api/generated/types.gen';

export type { RelayClientMessage, RelayServerMessage };
export type RelayServerOf<T extends RelayServerMessage['type']> = Extract<RelayServerMessage, { type: T }>;
export type RelayClientOf<T extends RelayClientMessage['type']> = Extract<RelayClientMessage, { type: T }>;

/** What a connection does once authenticated: produce (`register`) or consume (`subscribe`). */
export type RelayJoin = RelayClientOf<'register'> | RelayClientOf<'subscribe'>;
export type RelayAlert = RelayServerOf<'alert'>;
export type RelayStreamStatus = RelayServerOf<'stream-status'>;
export type RelayError = RelayServerOf<'error'>;

/** Close codes of the relay (contract). */
export const RELAY_CLOSE = {
  unauthorized: 1008,
  revoked: 4401,
  deleted: 4404,
  heartbeat: 4408,
  replaced: 4409,
} as const;

export function relayUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/api/streams/ws`;
}
