import { useQuery } from '@tanstack/react-query';
import { api } from '../api/endpoints';
import type { ServiceHealth, SystemHealth } from '../api/types';
import { HEALTH_COLORS, HEALTH_LABELS, healthKey, relativeTime } from '../lib/format';
import { useRealtime } from '../realtime';
import { Popover } from './Popover';
import { WorkersSection } from './WorkersSection';
import { Dot } from './ui';

function detailText(d: unknown): string | null {
  if (d === null || d === undefined) return null;
  if (typeof d === 'string') return d;
  if (typeof d === 'number' || typeof d === 'boolean') return String(d);
  if (typeof d === 'object') {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(d as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      if (k === 'reason') continue; // shown on its own line (ServiceList)
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
        if (v.length) parts.push(`${k}: ${v.join(', ')}`); // e.g. the features a bus outage stops
        continue;
      }
      if (typeof v === 'object') continue; // nested structures are for the API, not for this line
      parts.push(`${k}: ${String(v)}`);
    }
    return parts.join(', ') || null;
  }
  return null;
}

function reasonOf(s: ServiceHealth): string | null {
  const reason = (s.details as Record<string, unknown> | null | undefined)?.reason;
  return typeof reason === 'string' && reason ? reason : null;
}

/** Why the system is not healthy: the reason each service that is not HEALTHY gives
 * (`details.reason`, e.g. "The message bus is unreachable …"), as `{service, reason}`. */
export function healthReasons(health: SystemHealth | undefined): { service: string; reason: string }[] {
  if (!health) return [];
  const out: { service: string; reason: string }[] = [];
  for (const [name, s] of Object.entries(health.services ?? {})) {
    const reason = reasonOf(s);
    if (reason && healthKey(s.status) !== 'HEALTHY') out.push({ service: name, reason });
  }
  return out;
}

export function ServiceList({ services }: { services: Record<string, ServiceHealth> }) {
  const entries = Object.entries(services);
  if (!entries.length) return <p className="text-sm text-slate-400">No service reported yet.</p>;
  return (
    <ul className="space-y-2">
      {entries.map(([name, s]) => {
        const k = healthKey(s.status);
        const detail = detailText(s.details);
        const reason = reasonOf(s);
        return (
          <li key={name} className="flex items-start gap-2 text-sm" data-service={name} data-status={k}>
            <Dot color={HEALTH_COLORS[k]} className="mt-1.5" />
            <div className="min-w-0 flex-1">
              <div className="flex items-baseline justify-between gap-2">
                <span className="font-medium capitalize">{name}</span>
                <span className="text-xs text-slate-400">
                  {HEALTH_LABELS[k]}
                  {typeof s.responseTimeMs === 'number' ? ` · ${s.responseTimeMs.toFixed(0)} ms` : ''}
                </span>
              </div>
              {reason && <p className="break-words text-xs text-amber-300">{reason}</p>}
              {detail && <p className="break-words text-xs text-slate-400">{detail}</p>}
              {s.lastChecked && <p className="text-[11px] text-slate-500">checked {relativeTime(s.lastChecked)}</p>}
            </div>
          </li>
        );
      })}
    </ul>
  );
}

export function HealthIndicator() {
  const connected = useRealtime((s) => s.connection === 'connected');
  const pushed = useRealtime((s) => s.health);
  const q = useQuery({ queryKey: ['health'], queryFn: api.health, refetchInterval: connected ? 60_000 : 10_000 });
  // The hub pushes changes; the poll covers the time the socket is down.
  const health: SystemHealth | undefined = pushed ?? q.data;
  const k = healthKey(health?.status);
  const reasons = healthReasons(health);
  const why = reasons.map((r) => r.reason).join(' ');
  return (
    <Popover
      panelClassName="max-h-[80vh] overflow-y-auto"
      label={`System health: ${HEALTH_LABELS[k]}${why ? ` — ${why}` : ''}`}
      button={
        <>
          <Dot color={HEALTH_COLORS[k]} pulse={k === 'UNHEALTHY' || k === 'STARTING'} />
          <span className="hidden text-slate-300 lg:inline">{HEALTH_LABELS[k]}</span>
        </>
      }
    >
      <h2 className="mb-2 text-sm font-semibold">System health: {HEALTH_LABELS[k]}</h2>
      {reasons.length > 0 && (
        <ul className="mb-3 space-y-1 rounded border border-amber-500/40 bg-amber-500/10 p-2 text-xs text-amber-200" data-testid="health-reasons">
          {reasons.map((r) => (
            <li key={r.service}>
              <span className="font-medium capitalize">{r.service}:</span> {r.reason}
            </li>
          ))}
        </ul>
      )}
      {health ? <ServiceList services={health.services ?? {}} /> : <p className="text-sm text-slate-400">{q.isError ? 'Health is not available right now.' : 'Checking…'}</p>}
      <WorkersSection />
    </Popover>
  );
}
