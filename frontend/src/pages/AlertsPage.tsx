import { Check } from 'lucide-react';
import { useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { api } from '../api/endpoints';
import { ALERT_TYPES, SEVERITIES, type AlertQuery } from '../api/types';
import { usePermissions } from '../auth/auth';
import { AlertThumb, SeverityPill } from '../components/AlertThumb';
import { FilterField, FilterForm, FilterSelect, TimeRangeFilter, filterControl } from '../components/ListFilters';
import { PagedList } from '../components/PagedList';
import { Button } from '../components/ui';
import { sourceName } from '../lib/alertGroups';
import { useCameraActions, useCameraNames, useCameras } from '../lib/cameras';
import { useStreamNames, useStreams } from '../lib/streams';
import { absoluteTime, localDateTimeToIso, relativeTime } from '../lib/format';
import { ui } from '../lib/ui';
import { useCursorPages } from '../lib/useCursorPages';

const PAGE = 50;

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
    const s = localDateTimeToIso(since);
    const u = localDateTimeToIso(until);
    if (s) f.since = s;
    if (u) f.until = u;
    if (ack) f.acknowledged = ack === 'yes';
    return f;
  }, [source, severity, type, since, until, ack]);

  const pages = useCursorPages(['alerts', 'history'], filters, api.listAlerts);

  return (
    <div className="space-y-3">
      <h1 className="text-lg font-semibold">Alerts</h1>
      <FilterForm label="Filter alerts">
        <FilterField label="Source">
          <select className={filterControl} value={source} onChange={(e) => setSource(e.target.value)}>
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
        </FilterField>
        <FilterSelect label="Severity" value={severity} onChange={setSeverity} options={SEVERITIES} />
        <FilterSelect label="Type" value={type} onChange={setType} options={ALERT_TYPES} />
        <TimeRangeFilter from={since} to={until} onFromChange={setSince} onToChange={setUntil} />
        <FilterField label="Acknowledged">
          <select className={filterControl} value={ack} onChange={(e) => setAck(e.target.value as '' | 'yes' | 'no')}>
            <option value="">Any</option>
            <option value="no">Not acknowledged</option>
            <option value="yes">Acknowledged</option>
          </select>
        </FilterField>
      </FilterForm>

      <PagedList pages={pages} loadingLabel="Loading alerts…" emptyText="No alerts match these filters.">
        <ul className="divide-y divide-slate-800 rounded-lg border border-slate-800" aria-label="Alert history">
          {pages.items.map((a) => (
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
      </PagedList>
    </div>
  );
}
