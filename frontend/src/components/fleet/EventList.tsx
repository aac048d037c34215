/** Recent NVR/camera status changes and alerts, newest first. */
import type { FleetEvent } from '../../fleet';
import { relativeTime } from '../../lib/format';
import { Dot } from '../ui';

const EVENT_COLORS: Record<FleetEvent['kind'], string> = {
  'nvr-online': 'bg-emerald-500',
  'nvr-offline': 'bg-red-500',
  'camera-online': 'bg-emerald-400',
  'camera-offline': 'bg-orange-500',
  alert: 'bg-cyan-400',
};

export function EventList({ events, now, empty = 'Nothing has happened since this page opened.' }: { events: readonly FleetEvent[]; now: number; empty?: string }) {
  if (!events.length) return <p className="text-sm text-slate-400">{empty}</p>;
  return (
    <ol aria-label="Recent events" className="divide-y divide-slate-800">
      {events.map((e) => (
        <li key={e.key} data-event-kind={e.kind} className="flex items-start gap-2 py-1.5 text-sm">
          <Dot color={EVENT_COLORS[e.kind]} className="mt-1.5" />
          <div className="min-w-0 flex-1">
            <p className="truncate">{e.title}</p>
            {e.detail && <p className="truncate text-xs text-slate-400">{e.detail}</p>}
          </div>
          <time dateTime={e.at} className="shrink-0 text-xs text-slate-500" title={new Date(e.at).toLocaleString()}>
            {relativeTime(e.at, now)}
          </time>
        </li>
      ))}
    </ol>
  );
}

