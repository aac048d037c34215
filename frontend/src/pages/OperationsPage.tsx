/**
 * Operations: the fleet at a glance (issue 11). KPI cards, the status distribution, alerts
 * per hour over 24 h, the regional distribution and the recent events, all live: the summary
 * arrives with the hub's `stats:updated` (≤ every 500 ms), charts redraw at most every 1 s.
 */
import { Activity, AlertTriangle, Camera, CameraOff, Server, ServerOff } from 'lucide-react';
import { useMemo, type ReactNode } from 'react';
import { Link } from 'react-router';
import { errorMessage } from '../api/http';
import { CAMERA_STATUSES } from '../api/types';
import AlertsTimeline from '../components/fleet/AlertsTimeline';
import { AnimatedNumber, FallbackNotice } from '../components/fleet/FleetUi';
import { EventList } from '../components/fleet/EventList';
import { Dot, ErrorState, Spinner, cx } from '../components/ui';
import { useFleet, useSummary } from '../fleet';
import { withAlerts } from '../fleet/store';
import type { SummaryStats } from '../fleet/types';
import { STATUS_COLORS, STATUS_LABELS } from '../lib/format';
import { useNow } from '../lib/useNow';
import { useThrottled } from '../lib/useThrottled';
import { useRealtime } from '../realtime';

function Kpi({ id, label, value, icon, tone }: { id: string; label: string; value: number; icon: ReactNode; tone?: 'bad' | 'good' }) {
  return (
    <div data-testid={`kpi-${id}`} className="rounded-lg border border-slate-800 bg-slate-900/60 p-3">
      <p className="flex items-center gap-1.5 text-xs uppercase tracking-wide text-slate-400">
        {icon} {label}
      </p>
      <p className={cx('mt-1 text-2xl font-semibold', tone === 'bad' && value > 0 && 'text-red-300')}>
        <AnimatedNumber value={value} />
      </p>
    </div>
  );
}

function Card({ title, children, className }: { title: string; children: ReactNode; className?: string }) {
  return (
    <section aria-label={title} className={cx('rounded-lg border border-slate-800 bg-slate-900/40 p-3', className)}>
      <h2 className="mb-2 text-sm font-semibold text-slate-300">{title}</h2>
      {children}
    </section>
  );
}

/** One stacked bar of parts (with their counts in the legend). */
function StackBar({ label, parts }: { label: string; parts: { key: string; label: string; value: number; color: string }[] }) {
  const total = parts.reduce((n, p) => n + p.value, 0);
  return (
    <div className="space-y-1">
      <p className="text-xs text-slate-400">{label}</p>
      <div className="flex h-3 overflow-hidden rounded bg-slate-800" role="img" aria-label={`${label}: ${parts.map((p) => `${p.value} ${p.label}`).join(', ')}`}>
        {total > 0 && parts.map((p) => <span key={p.key} className={cx('h-full transition-[width] duration-500', p.color)} style={{ width: `${(p.value / total) * 100}%` }} />)}
      </div>
      <ul className="flex flex-wrap gap-x-3 text-xs text-slate-300">
        {parts.map((p) => (
          <li key={p.key} className="inline-flex items-center gap-1">
            <Dot color={p.color} /> {p.label} <span className="font-semibold tabular-nums">{p.value}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function StatusDistribution({ s }: { s: SummaryStats }) {
  return (
    <div className="space-y-3">
      <StackBar
        label="NVRs"
        parts={[
          { key: 'on', label: 'Online', value: s.nvrs.online, color: 'bg-emerald-500' },
          { key: 'off', label: 'Offline', value: s.nvrs.offline, color: 'bg-red-500' },
        ]}
      />
      <StackBar
        label="Cameras (reachability)"
        parts={[
          { key: 'on', label: 'Online', value: s.cameras.online, color: 'bg-emerald-500' },
          { key: 'off', label: 'Offline', value: s.cameras.offline, color: 'bg-red-500' },
          { key: 'unk', label: 'Unknown', value: s.cameras.unknown, color: 'bg-slate-500' },
        ]}
      />
      <StackBar
        label="Cameras (stream status)"
        parts={CAMERA_STATUSES.filter((k) => s.cameras.byStatus[k]).map((k) => ({ key: k, label: STATUS_LABELS[k], value: s.cameras.byStatus[k] ?? 0, color: STATUS_COLORS[k] }))}
      />
    </div>
  );
}

function Regions({ s }: { s: SummaryStats }) {
  if (!s.regions.length) return <p className="text-sm text-slate-400">No regions yet.</p>;
  const max = Math.max(1, ...s.regions.map((r) => r.cameras));
  return (
    <ul className="space-y-2">
      {s.regions.map((r) => (
        <li key={r.region} data-region={r.region} className="text-sm">
          <div className="flex justify-between gap-2">
            <Link to={`/nvrs?region=${encodeURIComponent(r.region)}`} className="truncate hover:underline">
              {r.region || 'No region'}
            </Link>
            <span className="text-xs tabular-nums text-slate-400">
              NVRs {r.nvrsOnline}/{r.nvrs} · cameras {r.camerasOnline}/{r.cameras}
            </span>
          </div>
          <div className="mt-1 flex h-2 overflow-hidden rounded bg-slate-800" style={{ width: `${Math.max(8, (r.cameras / max) * 100)}%` }}>
            <span className="h-full bg-emerald-500 transition-[width] duration-500" style={{ width: `${r.cameras ? (r.camerasOnline / r.cameras) * 100 : 0}%` }} />
            <span className="h-full flex-1 bg-red-500/80" />
          </div>
        </li>
      ))}
    </ul>
  );
}

export default function OperationsPage() {
  const { summary, isError, error, refetch } = useSummary();
  const fleetEvents = useFleet((s) => s.events);
  const alerts = useRealtime((s) => s.alerts);
  const events = useMemo(() => withAlerts(fleetEvents, alerts), [fleetEvents, alerts]);
  const lastUpdate = useFleet((s) => s.lastUpdate);
  const now = useNow(5_000);
  const hours = useThrottled(summary?.alertsByHour ?? [], 1_000);
  const stamp = Math.max(lastUpdate ?? 0, summary ? Date.parse(summary.timestamp) : 0);

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-baseline gap-2">
        <h1 className="mr-auto text-lg font-semibold">Operations</h1>
        <p className="text-xs text-slate-400" data-testid="last-update">
          <Activity aria-hidden="true" className="mr-1 inline h-3.5 w-3.5" />
          Last update {stamp ? <time dateTime={new Date(stamp).toISOString()}>{new Date(stamp).toLocaleTimeString()}</time> : '—'}
        </p>
      </div>
      <FallbackNotice />
      {isError && !summary && <ErrorState message={errorMessage(error)} onRetry={refetch} />}
      {!summary && !isError && <Spinner label="Loading the fleet…" />}
      {summary && (
        <>
          <div className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-5">
            <Kpi id="nvrs" label="NVRs" value={summary.nvrs.total} icon={<Server aria-hidden="true" className="h-3.5 w-3.5" />} />
            <Kpi id="cameras" label="Cameras" value={summary.cameras.total} icon={<Camera aria-hidden="true" className="h-3.5 w-3.5" />} />
            <Kpi id="nvrs-offline" label="Offline NVRs" value={summary.nvrs.offline} tone="bad" icon={<ServerOff aria-hidden="true" className="h-3.5 w-3.5" />} />
            <Kpi id="cameras-offline" label="Offline cameras" value={summary.cameras.offline} tone="bad" icon={<CameraOff aria-hidden="true" className="h-3.5 w-3.5" />} />
            <Kpi id="alerts-today" label="Alerts today" value={summary.alertsToday} icon={<AlertTriangle aria-hidden="true" className="h-3.5 w-3.5" />} />
          </div>
          <div className="grid gap-3 lg:grid-cols-3">
            <Card title="Status distribution">
              <StatusDistribution s={summary} />
            </Card>
            <Card title="Alerts per hour (24 h)" className="lg:col-span-2">
              <AlertsTimeline buckets={hours} />
            </Card>
            <Card title="Regions">
              <Regions s={summary} />
            </Card>
            <Card title="Recent events" className="lg:col-span-2">
              <EventList events={events} now={now} />
            </Card>
          </div>
        </>
      )}
    </div>
  );
}
