import { useQuery } from '@tanstack/react-query';
import { Check } from 'lucide-react';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, paths } from '../api/endpoints';
import { errorMessage } from '../api/http';
import type { Alert } from '../api/types';
import { usePermissions } from '../auth/auth';
import { sourceName } from '../lib/alertGroups';
import { useCameraActions, useCameraNames } from '../lib/cameras';
import { absoluteTime, relativeTime } from '../lib/format';
import { ui, useUi } from '../lib/ui';
import { useAuthedImage } from '../media/useAuthedImage';
import { SeverityPill, thumbSrc } from './AlertThumb';
import { Button, Dialog, ErrorState, Spinner } from './ui';

export function AlertDetailDialog() {
  const sel = useUi((s) => s.alert);
  return <Dialog open={!!sel} onClose={ui.closeAlert} title="Alert">{sel && <AlertDetail id={sel.id} initial={sel.data} />}</Dialog>;
}

function AlertDetail({ id, initial }: { id: string; initial: Alert | undefined }) {
  const q = useQuery({ queryKey: ['alert', id], queryFn: () => api.getAlert(id), ...(initial ? { initialData: initial, staleTime: 10_000 } : {}) });
  const [acked, setAcked] = useState<Alert | null>(null);
  const alert = acked ?? q.data;
  const names = useCameraNames();
  const perms = usePermissions();
  const { acknowledge } = useCameraActions();
  const snap = useAuthedImage(q.data?.hasSnapshot === false ? null : paths.alertSnapshot(id));
  if (!alert) return q.isError ? <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} /> : <Spinner label="Loading the alert…" />;
  const faces = alert.metadata?.faces ?? [];
  const thumb = thumbSrc(alert.thumbnail);
  return (
    <div className="space-y-3">
      <div className="relative flex aspect-video items-center justify-center overflow-hidden rounded-md bg-black">
        {snap.url ? (
          <img src={snap.url} alt={`Snapshot of the alert: ${alert.message}`} className="h-full w-full object-contain" />
        ) : snap.loading ? (
          <Spinner label="Loading the snapshot…" />
        ) : thumb ? (
          <img src={thumb} alt={`Thumbnail of the alert: ${alert.message}`} className="h-full w-full object-contain" />
        ) : (
          <p className="text-sm text-slate-400">{snap.error ?? 'No snapshot for this alert.'}</p>
        )}
      </div>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
        <dt className="text-slate-400">{alert.streamId && !alert.cameraId ? 'Stream' : 'Camera'}</dt>
        <dd>
          {alert.streamId && !alert.cameraId ? (
            <Link to={`/streams/${encodeURIComponent(alert.streamId)}`} onClick={ui.closeAlert} className="text-cyan-300 hover:underline">
              {sourceName(alert, { cameras: names, streams: new Map() })}
            </Link>
          ) : (
            sourceName(alert, { cameras: names, streams: new Map() })
          )}
        </dd>
        {alert.source && (
          <>
            <dt className="text-slate-400">From</dt>
            <dd className="break-all">{alert.source}</dd>
          </>
        )}
        <dt className="text-slate-400">What</dt>
        <dd>{alert.message}</dd>
        <dt className="text-slate-400">When</dt>
        <dd>
          <time dateTime={alert.createdAt}>{absoluteTime(alert.createdAt)}</time> <span className="text-slate-400">({relativeTime(alert.createdAt)})</span>
        </dd>
        <dt className="text-slate-400">Severity</dt>
        <dd>
          <SeverityPill severity={alert.severity} />
        </dd>
        {faces.length > 0 && (
          <>
            <dt className="text-slate-400">Faces</dt>
            <dd>
              {faces.map((f, i) => (
                <span key={i} className="mr-3 inline-block">
                  {f.trackId != null ? `#${f.trackId} ` : ''}
                  {Math.round(f.confidence * 100)} %
                </span>
              ))}
            </dd>
          </>
        )}
        <dt className="text-slate-400">Status</dt>
        <dd>{alert.acknowledgedAt ? `Acknowledged ${relativeTime(alert.acknowledgedAt)}${alert.acknowledgedBy ? ` by ${alert.acknowledgedBy}` : ''}` : 'Not acknowledged'}</dd>
      </dl>
      {perms.acknowledge && !alert.acknowledgedAt && (
        <div className="flex justify-end">
          <Button variant="primary" onClick={() => acknowledge(alert, setAcked)}>
            <Check aria-hidden="true" className="h-4 w-4" /> Acknowledge
          </Button>
        </div>
      )}
    </div>
  );
}
