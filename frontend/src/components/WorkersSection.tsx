/**
 * The workers of the cluster (issue 12), in the system health view: per worker the cameras
 * it holds, sessions, CPU, detector load, dropped samples, last heartbeat, alive or stale.
 * Polled while shown (the hub does not push worker heartbeats).
 */
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/http';
import type { Worker } from '../api/types';
import { num, relativeTime } from '../lib/format';
import { useNow } from '../lib/useNow';
import { shortWorkerId } from '../lib/workers';
import { Dot, cx } from './ui';

export const WORKERS_POLL_MS = 5_000;
export const workersKey = ['system', 'workers'] as const;

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** One worker's figures as a line of text (what is not reported is left out). */
export function workerFigures(w: Worker): string {
  const parts = [plural(w.cameraIds.length, 'camera'), plural(w.sessions, 'session')];
  if (w.leases != null) parts.push(plural(w.leases, 'lease'));
  if (w.cpuPercent != null) parts.push(`CPU ${num(w.cpuPercent, 0)} %`);
  if (w.detectorLoad != null) parts.push(`detector ${num(w.detectorLoad * 100, 0)} %`);
  if (w.droppedSamples != null) parts.push(`${w.droppedSamples} dropped`);
  return parts.join(' · ');
}

export function WorkersSection() {
  const q = useQuery({ queryKey: workersKey, queryFn: api.workers, refetchInterval: WORKERS_POLL_MS });
  const now = useNow(WORKERS_POLL_MS);
  const items = q.data?.items;
  return (
    <section aria-labelledby="health-workers" className="mt-3 border-t border-slate-800 pt-3">
      <h3 id="health-workers" className="mb-2 text-sm font-semibold">
        Workers{items ? ` (${items.filter((w) => w.alive).length} alive)` : ''}
      </h3>
      {q.isError && <p className="text-xs text-amber-300">Workers are not available right now: {errorMessage(q.error)}</p>}
      {!items && !q.isError && <p className="text-xs text-slate-400">Checking…</p>}
      {items && !items.length && <p className="text-xs text-slate-400">No worker has reported yet.</p>}
      {items && items.length > 0 && (
        <ul className="space-y-2">
          {items.map((w) => (
            <li key={w.workerId} className="text-sm" data-worker={w.workerId} data-alive={w.alive}>
              <div className="flex items-center gap-2">
                <Dot color={w.alive ? 'bg-emerald-500' : 'bg-slate-500'} />
                <span className="min-w-0 flex-1 truncate font-mono text-xs" title={w.workerId}>
                  {shortWorkerId(w.workerId)}
                </span>
                <span className={cx('rounded px-1.5 text-[11px]', w.alive ? 'bg-emerald-500/15 text-emerald-300' : 'bg-slate-700 text-slate-300')}>{w.alive ? 'alive' : 'stale'}</span>
              </div>
              <p className="text-xs text-slate-400">{workerFigures(w)}</p>
              <p className="text-[11px] text-slate-500">heartbeat {relativeTime(w.lastHeartbeat, now)}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
