import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/http';
import type { Camera } from '../api/types';
import { useCameraView, useCameras } from '../lib/cameras';
import { formatBytes, formatDuration, num, relativeTime } from '../lib/format';
import { ui } from '../lib/ui';
import { shortWorkerId } from '../lib/workers';
import { AlertThumb, SeverityPill } from './AlertThumb';
import { QualityBadge, StatusBadge } from './CameraStatus';
import { LiveView } from './LiveView';
import { Sparkline } from './Sparkline';
import { Dialog, ErrorState, Spinner } from './ui';
import { CameraActions } from './CameraActions';

export function CameraDrawer({ cameraId, onClose, onEdit, onDelete }: { cameraId: string | null; onClose: () => void; onEdit: (c: Camera) => void; onDelete: (c: Camera) => void }) {
  const { data } = useCameras();
  const camera = cameraId ? data?.find((c) => c.id === cameraId) : undefined;
  return (
    <Dialog open={!!cameraId} onClose={onClose} side="right" title={camera?.name ?? 'Camera'}>
      {camera ? <DrawerBody camera={camera} onEdit={onEdit} onDelete={onDelete} /> : cameraId ? <p className="text-sm text-slate-400">This camera no longer exists.</p> : null}
    </Dialog>
  );
}

function DrawerBody({ camera, onEdit, onDelete }: { camera: Camera; onEdit: (c: Camera) => void; onDelete: (c: Camera) => void }) {
  const view = useCameraView(camera);
  const s = view.stats;
  const history = useRef<number[]>([]);
  const [fps, setFps] = useState<number[]>([]);
  useEffect(() => {
    if (s?.inputFps === undefined) return;
    history.current = [...history.current.slice(-59), s.inputFps];
    setFps(history.current);
  }, [s]);
  const alerts = useQuery({ queryKey: ['alerts', { cameraId: camera.id, limit: 10 }], queryFn: () => api.listAlerts({ cameraId: camera.id, limit: 10 }) });
  const rows: [string, string][] = s
    ? [
        ['Input', `${num(s.inputFps)} fps${s.expectedFps ? ` of ${num(s.expectedFps)}` : ''}`],
        ['Decoded', `${num(s.decodedFps)} fps`],
        ['Detection', `${num(s.detectionFps)} fps${s.detectorMsP50 != null ? ` · ${num(s.detectorMsP50, 0)} ms (p50)` : ''}`],
        ['Resolution', s.width && s.height ? `${s.width}×${s.height}${s.codec ? ` ${s.codec}` : ''}` : '—'],
        ['Egress', `${s.egress ?? '—'}${s.viewers != null ? ` · ${s.viewers} viewer${s.viewers === 1 ? '' : 's'}` : ''}`],
        ['Reconnects (1 h)', String(s.reconnectsLastHour ?? 0)],
        ['Stalls (1 h)', String(s.stallsLastHour ?? 0)],
        ['Samples', samplesRow(s)],
        ['Uptime', formatDuration(s.uptimeS)],
        ['Received', formatBytes(s.bytesIn)],
      ]
    : [];
  return (
    <div className="space-y-4">
      <div className="aspect-video overflow-hidden rounded-md bg-black">
        <LiveView cameraId={camera.id} cameraName={camera.name} status={view.status} expectedFps={s?.expectedFps} />
      </div>
      <div className="flex flex-wrap items-center gap-3">
        <StatusBadge status={view.status} attempt={view.attempt} detail={view.detail} />
        {view.status === 'PROCESSING' && <QualityBadge quality={s?.connectionQuality} />}
        {camera.location && <span className="text-xs text-slate-400">{camera.location}</span>}
        <span className="text-xs text-slate-400" data-testid="drawer-worker">
          Worker:{' '}
          <span className="font-mono text-slate-300" title={view.workerId ?? 'No worker holds this camera'}>
            {shortWorkerId(view.workerId)}
          </span>
        </span>
      </div>
      {view.status === 'ERROR' && view.detail && <ErrorState message={view.detail} />}
      <CameraActions camera={camera} status={view.status} onEdit={onEdit} onDelete={onDelete} />
      <p className="break-all font-mono text-xs text-slate-400">
        <span className="sr-only">RTSP URL: </span>
        {camera.rtspUrl}
      </p>
      <section aria-labelledby="drawer-stats">
        <h3 id="drawer-stats" className="mb-1 text-sm font-semibold">
          Stats
        </h3>
        {s ? (
          <>
            {fps.length > 1 && <Sparkline values={fps} {...(s.expectedFps ? { max: s.expectedFps } : {})} label="Input frame rate, last minute" className="mb-2 h-9 w-full text-cyan-400" />}
            <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-0.5 text-sm">
              {rows.map(([k, v]) => (
                <div key={k} className="contents">
                  <dt className="text-slate-400">{k}</dt>
                  <dd>{v}</dd>
                </div>
              ))}
            </dl>
          </>
        ) : (
          <p className="text-sm text-slate-400">No stats yet (the camera reports them while it runs).</p>
        )}
      </section>
      <section aria-labelledby="drawer-alerts">
        <h3 id="drawer-alerts" className="mb-1 text-sm font-semibold">
          Recent alerts
        </h3>
        {alerts.isPending && <Spinner />}
        {alerts.isError && <ErrorState message={errorMessage(alerts.error)} onRetry={() => void alerts.refetch()} />}
        {alerts.data && !alerts.data.items.length && <p className="text-sm text-slate-400">No alerts for this camera.</p>}
        <ul className="space-y-1">
          {alerts.data?.items.map((a) => (
            <li key={a.id}>
              <button type="button" onClick={() => ui.openAlert(a.id, a)} className="flex w-full items-center gap-3 rounded-md p-1.5 text-left text-sm hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-cyan-400">
                <AlertThumb thumbnail={a.thumbnail} className="h-10 w-14 shrink-0" />
                <span className="min-w-0 flex-1 truncate">{a.message}</span>
                <SeverityPill severity={a.severity} />
                <time dateTime={a.createdAt} className="shrink-0 text-xs text-slate-400">
                  {relativeTime(a.createdAt)}
                </time>
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

/** What happened to the detection samples: analysed, skipped as static (motion gate), or
 *  dropped because the detector was busy. */
function samplesRow(s: { analysedSamples?: number; skippedStatic?: number; droppedSamples?: number }): string {
  return `${s.analysedSamples ?? 0} analysed · ${s.skippedStatic ?? 0} skipped (static) · ${s.droppedSamples ?? 0} dropped`;
}
