import type { StreamStatus } from '../api/types';
import type { RelayState } from '../relay/client';
import { Dot, cx } from './ui';

export const STREAM_STATUS_LABELS: Record<StreamStatus, string> = { streaming: 'Streaming', online: 'Online', offline: 'Offline' };
const STREAM_STATUS_COLORS: Record<StreamStatus, string> = { streaming: 'bg-emerald-500', online: 'bg-yellow-400', offline: 'bg-slate-500' };

export function StreamStatusBadge({ status, className }: { status: StreamStatus; className?: string }) {
  return (
    <span data-stream-status={status} className={cx('inline-flex items-center gap-1.5 rounded-full bg-slate-800 px-2 py-0.5 text-xs', className)}>
      <Dot color={STREAM_STATUS_COLORS[status]} pulse={status === 'streaming'} />
      {STREAM_STATUS_LABELS[status]}
    </span>
  );
}

const RELAY_LABELS: Record<RelayState, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  authenticating: 'Signing in…',
  joining: 'Joining the stream…',
  ready: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
};
const RELAY_COLORS: Record<RelayState, string> = {
  idle: 'bg-slate-500',
  connecting: 'bg-yellow-400',
  authenticating: 'bg-yellow-400',
  joining: 'bg-yellow-400',
  ready: 'bg-emerald-500',
  reconnecting: 'bg-orange-500',
  closed: 'bg-red-500',
};

/** The relay connection's state, as words and a dot (announced politely when it changes). */
export function RelayStateBadge({ state, className }: { state: RelayState; className?: string }) {
  return (
    <span role="status" data-relay-state={state} className={cx('inline-flex items-center gap-1.5 rounded-full bg-slate-800 px-2 py-0.5 text-xs', className)}>
      <Dot color={RELAY_COLORS[state]} pulse={state === 'ready'} />
      {RELAY_LABELS[state]}
    </span>
  );
}
