import { useEffect, useState } from 'react';
import { realtime, useQueuedActions, useRealtime } from '../realtime';
import { Dot, cx } from './ui';

const LABELS = { connected: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline', idle: 'Offline' } as const;
const COLORS = { connected: 'bg-emerald-500', connecting: 'bg-yellow-400', reconnecting: 'bg-yellow-400', offline: 'bg-red-500', idle: 'bg-slate-500' } as const;

export function SocketStatus() {
  const connection = useRealtime((s) => s.connection);
  const nextRetryAt = useRealtime((s) => s.nextRetryAt);
  const queued = useQueuedActions();
  const [, tick] = useState(0);
  useEffect(() => {
    if (!nextRetryAt) return;
    const id = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(id);
  }, [nextRetryAt]);
  const secs = nextRetryAt ? Math.max(0, Math.ceil((nextRetryAt - Date.now()) / 1000)) : 0;
  const desc =
    connection === 'connected'
      ? 'Real-time updates: connected'
      : connection === 'offline' || connection === 'reconnecting'
        ? `Real-time updates: ${connection}${secs ? `, retrying in ${secs} s` : ''}`
        : `Real-time updates: ${LABELS[connection].replace('…', '')}`;
  return (
    <div className="flex items-center gap-1">
      <span className="sr-only" role="status" aria-live="polite">
        Real-time updates {LABELS[connection].replace('…', '').toLowerCase()}
      </span>
      <button
        type="button"
        aria-label={desc}
        title={connection === 'connected' ? desc : `${desc}. Click to retry now.`}
        data-connection={connection}
        onClick={() => realtime.reconnectNow()}
        className="inline-flex items-center gap-1.5 rounded-md px-2 py-1.5 text-sm hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-cyan-400"
      >
        <Dot color={COLORS[connection]} pulse={connection === 'reconnecting' || connection === 'connecting'} />
        <span className={cx('hidden text-slate-300 md:inline')}>{LABELS[connection]}</span>
      </button>
      {queued.length > 0 && (
        <span className="rounded bg-amber-900/60 px-1.5 py-0.5 text-xs text-amber-200" title={queued.map((q) => q.label).join('\n')}>
          {queued.length} waiting
        </span>
      )}
    </div>
  );
}
