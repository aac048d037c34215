import type { ReactNode } from 'react';
import type { StreamAlertItem } from '../relay/alerts';
import { relativeTime } from '../lib/format';
import { useNow } from '../lib/useNow';
import { SeverityPill } from './AlertThumb';

/** A stream's alerts, newest first; new ones are announced (aria-live). */
export function StreamAlertList({ alerts, empty, footer }: { alerts: readonly StreamAlertItem[]; empty: string; footer?: ReactNode }) {
  const now = useNow(15_000);
  return (
    <section aria-label="Alerts of this stream" className="space-y-2">
      <h2 className="text-sm font-semibold">
        Alerts <span className="text-slate-400">({alerts.length})</span>
      </h2>
      {!alerts.length && <p className="text-sm text-slate-400">{empty}</p>}
      <ul aria-live="polite" className="space-y-1" data-testid="stream-alerts">
        {alerts.map((a) => (
          <li key={a.id} data-alert-id={a.id} className="rounded-md border border-slate-800 bg-slate-900 p-2 text-sm">
            <span className="block">{a.message}</span>
            <span className="flex flex-wrap items-center gap-2 text-xs text-slate-400">
              <SeverityPill severity={a.severity} />
              <span>{a.kind}</span>
              {a.confidence !== null && <span>{Math.round(a.confidence * 100)} %</span>}
              <time dateTime={a.createdAt} title={new Date(a.createdAt).toLocaleString()}>
                {relativeTime(a.createdAt, now)}
              </time>
            </span>
          </li>
        ))}
      </ul>
      {footer}
    </section>
  );
}
