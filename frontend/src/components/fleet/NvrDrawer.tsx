/** An NVR's details in a drawer that stays live while open: its status, cameras and events. */
import { useQuery } from '@tanstack/react-query';
import { KeyRound, Pencil, Trash2 } from 'lucide-react';
import { useMemo } from 'react';
import { usePermissions } from '../../auth/auth';
import { errorMessage } from '../../api/http';
import { fleetApi } from '../../fleet/api';
import { fleetKeys, useFallback, useFleet } from '../../fleet';
import { withAlerts } from '../../fleet/store';
import type { Nvr } from '../../fleet/types';
import { mergedStatus } from '../../lib/cameras';
import { absoluteTime, relativeTime } from '../../lib/format';
import { useNow } from '../../lib/useNow';
import { useRealtime } from '../../realtime';
import { StatusBadge } from '../CameraStatus';
import { Button, Dialog, ErrorState, Spinner } from '../ui';
import { EventList } from './EventList';
import { NvrStatusBadge, ReachabilityBadge } from './FleetUi';

export function NvrDrawer({ nvr, onClose, onEdit, onDelete, onKey }: { nvr: Nvr | null; onClose: () => void; onEdit: (n: Nvr) => void; onDelete: (n: Nvr) => void; onKey: (n: Nvr) => void }) {
  const perms = usePermissions();
  const fb = useFallback();
  const now = useNow(1_000);
  const cams = useQuery({
    queryKey: fleetKeys.nvrCameras(nvr?.id ?? ''),
    queryFn: () => fleetApi.nvrCameras(nvr!.id),
    enabled: !!nvr,
    refetchInterval: fb.refetchInterval,
  });
  const live = useRealtime((s) => s.cameras);
  const allEvents = useFleet((s) => s.events);
  const alerts = useRealtime((s) => s.alerts);
  const events = useMemo(() => (nvr ? withAlerts(allEvents, alerts, 500).filter((e) => e.nvrId === nvr.id).slice(0, 30) : []), [allEvents, alerts, nvr]);
  const rows = useMemo(() => [...(cams.data?.items ?? [])].sort((a, b) => (a.nvrChannel ?? 0) - (b.nvrChannel ?? 0) || a.name.localeCompare(b.name)), [cams.data]);

  return (
    <Dialog
      open={!!nvr}
      onClose={onClose}
      side="right"
      title={nvr ? nvr.deviceName || nvr.hostname : ''}
      actions={
        nvr && perms.admin ? (
          <>
            <Button variant="icon" aria-label="Agent key" title="Agent key and install command" onClick={() => onKey(nvr)}>
              <KeyRound aria-hidden="true" className="h-4 w-4" />
            </Button>
            <Button variant="icon" aria-label="Edit NVR" onClick={() => onEdit(nvr)}>
              <Pencil aria-hidden="true" className="h-4 w-4" />
            </Button>
            <Button variant="icon" aria-label="Delete NVR" onClick={() => onDelete(nvr)}>
              <Trash2 aria-hidden="true" className="h-4 w-4" />
            </Button>
          </>
        ) : null
      }
    >
      {nvr && (
        <div className="space-y-4 text-sm" data-testid="nvr-drawer" data-nvr-id={nvr.id}>
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1">
            <dt className="text-slate-400">Status</dt>
            <dd>
              <NvrStatusBadge status={nvr.status} />
            </dd>
            <dt className="text-slate-400">Last seen</dt>
            <dd title={absoluteTime(nvr.lastSeen)}>{nvr.lastSeen ? relativeTime(nvr.lastSeen, now) : 'never'}</dd>
            <dt className="text-slate-400">Hostname</dt>
            <dd className="font-mono text-xs">{nvr.hostname}</dd>
            <dt className="text-slate-400">Region / site</dt>
            <dd>{[nvr.region, nvr.site].filter(Boolean).join(' · ') || '—'}</dd>
            <dt className="text-slate-400">Model</dt>
            <dd>{[nvr.model, nvr.firmware].filter(Boolean).join(' · ') || '—'}</dd>
            <dt className="text-slate-400">Cameras</dt>
            <dd className="tabular-nums">
              {nvr.cameraCounts.online} online · {nvr.cameraCounts.offline} offline · {nvr.cameraCounts.unknown} unknown ({nvr.cameraCounts.total})
            </dd>
          </dl>
          <section aria-label="Cameras of this NVR">
            <h3 className="mb-1 flex font-semibold text-slate-300">
              <span className="flex-1">Cameras</span>
              <span className="w-28 text-xs font-normal text-slate-500">Reachability</span>
              <span className="w-28 text-xs font-normal text-slate-500">Stream</span>
            </h3>
            {cams.isPending && <Spinner label="Loading cameras…" />}
            {cams.isError && <ErrorState message={errorMessage(cams.error)} onRetry={() => void cams.refetch()} />}
            {cams.isSuccess && !rows.length && <p className="text-slate-400">No channel imported yet.</p>}
            <ul className="divide-y divide-slate-800">
              {rows.map((c) => (
                <li key={c.id} data-camera-id={c.id} className="flex items-center gap-2 py-1.5">
                  <span className="w-10 shrink-0 text-xs tabular-nums text-slate-500">{c.nvrChannel != null ? `ch${c.nvrChannel}` : ''}</span>
                  <span className="min-w-0 flex-1 truncate">{c.name}</span>
                  <span className="w-28 shrink-0" title="Reachability (the NVR agent's probe)">
                    <ReachabilityBadge value={c.reachability} />
                  </span>
                  <span className="w-28 shrink-0" title="Stream (Beholder's worker)">
                    <span className="sr-only">Stream: </span>
                    <StatusBadge status={mergedStatus(c, live)} />
                  </span>
                </li>
              ))}
            </ul>
          </section>
          <section aria-label="Recent events of this NVR">
            <h3 className="mb-1 font-semibold text-slate-300">Recent events</h3>
            <EventList events={events} now={now} empty="No event since this page opened." />
          </section>
        </div>
      )}
    </Dialog>
  );
}
