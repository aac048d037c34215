import { useInfiniteQuery } from '@tanstack/react-query';
import { Check } from 'lucide-react';
import { useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/http';
import { ALERT_TYPES, SEVERITIES, type AlertQuery } from '../api/types';
import { usePermissions } from '../auth/auth';
import { AlertThumb, SeverityPill } from '../components/AlertThumb';
import { Button, ErrorState, Spinner } from '../components/ui';
import { sourceName } from '../lib/alertGroups';
import { useCameraActions, useCameraNames, useCameras } from '../lib/cameras';
import { useStreamNames, useStreams } from '../lib/streams';
import { absoluteTime, relativeTime } from '../lib/format';
import { ui } from '../lib/ui';

const select = 'rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5 text-sm';
const PAGE = 50;

function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export default function AlertsPage() {
  const cams = useCameras();
  const names = useCameraNames();
  const perms = usePermissions();
  const { acknowledge } = useCameraActions();
  const streams = useStreams();
  const streamNames = useStreamNames();
  // One "source" filter: a camera (`camera:<id>`) or a mobile stream (`stream:<id>`).
  const [params] = useSearchParams();
  const [source, setSource] = useState(() => {
    const st = params.get('streamId');
    const cam = params.get('cameraId');
    return st ? `stream:${st}` : cam ? `camera:${cam}` : '';
  });
  const [severity, setSeverity] = useState('');
  const [type, setType] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [ack, setAck] = useState<'' | 'yes' | 'no'>('');

  const filters = useMemo<AlertQuery>(() => {
    const f: AlertQuery = { limit: PAGE };
    if (source.startsWith('camera:')) f.cameraId = source.slice(7);
    if (source.startsWith('stream:')) f.streamId = source.slice(7);
    const sev = SEVERITIES.find((x) => x === severity);
    if (sev) f.severity = sev;
    const kind = ALERT_TYPES.find((x) => x === type);
    if (kind) f.type = kind;
    const s = toIso(since);
    const u = toIso(until);
    if (s) f.since = s;
    if (u) f.until = u;
    if (ack) f.acknowledged = ack === 'yes';
    return f;
  }, [source, severity, type, since, until, ack]);

  const q = useInfiniteQuery({
    queryKey: ['alerts', 'history', filters],
    queryFn: ({ pageParam }) => api.listAlerts(pageParam ? { ...filters, cursor: pageParam } : filters),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor || undefined,
  });
  const items = useMemo(() => q.data?.pages.flatMap((p) => p.items) ?? [], [q.data]);

  return (
    <div className="space-y-3">
      <h1 className="text-lg font-semibold">Alerts</h1>
      <form className="flex flex-wrap items-end gap-2" role="search" aria-label="Filter alerts" onSubmit={(e) => e.preventDefault()}>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Source
          <select className={select} value={source} onChange={(e) => setSource(e.target.value)}>
            <option value="">All cameras and streams</option>
            {!!cams.data?.length && (
              <optgroup label="Cameras">
                {cams.data.map((c) => (
                  <option key={c.id} value={`camera:${c.id}`}>
                    {c.name}
                  </option>
                ))}
              </optgroup>
            )}
            {!!streams.data?.length && (
              <optgroup label="Streams">
                {streams.data.map((st) => (
                  <option key={st.id} value={`stream:${st.id}`}>
                    {st.deviceName}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Severity
          <select className={select} value={severity} onChange={(e) => setSeverity(e.target.value)}>
            <option value="">Any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Type
          <select className={select} value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">Any</option>
            {ALERT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          From
          <input type="datetime-local" className={select} value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          To
          <input type="datetime-local" className={select} value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Acknowledged
          <select className={select} value={ack} onChange={(e) => setAck(e.target.value as '' | 'yes' | 'no')}>
            <option value="">Any</option>
            <option value="no">Not acknowledged</option>
            <option value="yes">Acknowledged</option>
          </select>
        </label>
      </form>

      {q.isPending && <Spinner label="Loading alerts…" />}
      {q.isError && !items.length && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />}
      {q.isSuccess && !items.length && <p className="py-6 text-center text-sm text-slate-400">No alerts match these filters.</p>}

      {items.length > 0 && (
        <ul className="divide-y divide-slate-800 rounded-lg border border-slate-800" aria-label="Alert history">
          {items.map((a) => (
            <li key={a.id} className="flex items-center gap-3 p-2" data-alert-id={a.id}>
              <button type="button" onClick={() => ui.openAlert(a.id, a)} className="flex min-w-0 flex-1 items-center gap-3 rounded text-left focus-visible:outline-2 focus-visible:outline-cyan-400">
                <AlertThumb thumbnail={a.thumbnail} className="h-12 w-16 shrink-0" />
                <span className="min-w-0 flex-1">
                  <span className="block truncate text-sm">{a.message}</span>
                  <span className="flex flex-wrap items-center gap-2 text-xs text-slate-400">
                    <span>{sourceName(a, { cameras: names, streams: streamNames })}</span>
                    <time dateTime={a.createdAt} title={absoluteTime(a.createdAt)}>
                      {relativeTime(a.createdAt)}
                    </time>
                    <SeverityPill severity={a.severity} />
                    <span>{a.type}</span>
                  </span>
                </span>
              </button>
              {a.acknowledgedAt ? (
                <span className="shrink-0 text-xs text-emerald-400" title={absoluteTime(a.acknowledgedAt)}>
                  Acknowledged
                </span>
              ) : (
                perms.acknowledge && (
                  <Button onClick={() => acknowledge(a)} aria-label={`Acknowledge: ${a.message}, ${relativeTime(a.createdAt)}`}>
                    <Check aria-hidden="true" className="h-4 w-4" /> <span className="hidden sm:inline">Acknowledge</span>
                  </Button>
                )
              )}
            </li>
          ))}
        </ul>
      )}
      {q.isError && items.length > 0 && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.fetchNextPage()} />}
      {q.hasNextPage && (
        <div className="flex justify-center">
          <Button onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>
            {q.isFetchingNextPage ? 'Loading…' : 'Load more'}
          </Button>
        </div>
      )}
    </div>
  );
}
