/**
 * Audit trail (issue 14 item 7, admins only): who did what to which target, from where and
 * how it ended, newest first. Filters go to the server; pages follow the cursor as the list
 * scrolls (virtualised, so thousands of rows stay smooth) or with "Load more".
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { usePermissions } from '../auth/auth';
import {
  ACTION_LABELS,
  AUDIT_ACTIONS,
  AUDIT_OUTCOMES,
  AUDIT_TARGETS,
  auditApi,
  type AuditEvent,
  type AuditQuery,
} from '../audit/api';
import { FilterField, FilterForm, FilterSelect, TimeRangeFilter, filterControl } from '../components/ListFilters';
import { PagedList } from '../components/PagedList';
import { cx } from '../components/ui';
import { absoluteTime, localDateTimeToIso, relativeTime } from '../lib/format';
import { useCursorPages } from '../lib/useCursorPages';

const PAGE = 100;
const ROW_HEIGHT = 56;
const rowHeight = () => ROW_HEIGHT;
/** Fetch the next page when the last rendered row is this close to the end. */
const PREFETCH_ROWS = 10;
const COLS = 'grid grid-cols-[10rem_minmax(10rem,1.3fr)_minmax(8rem,1fr)_minmax(8rem,1fr)_6rem_minmax(8rem,1fr)] items-center gap-3 px-3';
const OUTCOME_STYLE: Record<string, string> = {
  success: 'text-emerald-300',
  failure: 'text-amber-300',
  denied: 'text-red-300',
};

/** `details` in one line: changed field names, then the other facts. */
function detailText(details: AuditEvent['details']): string {
  if (!details) return '';
  return Object.entries(details)
    .map(([k, v]) => (Array.isArray(v) ? `${k}: ${v.join(', ')}` : `${k}: ${String(v)}`))
    .join(' · ');
}

const AuditRow = memo(function AuditRow({ e, start }: { e: AuditEvent; start: number }) {
  const actor = e.actorName ?? e.actorId ?? '—';
  const target = e.targetType ? `${e.targetType}${e.targetId ? ` ${e.targetId.slice(0, 8)}` : ''}` : '—';
  return (
    <div role="row" data-audit-id={e.id} data-outcome={e.outcome} style={{ height: ROW_HEIGHT, transform: `translateY(${start}px)` }} className={cx(COLS, 'absolute left-0 top-0 w-full border-b border-slate-800 text-sm')}>
      <div role="cell" className="text-xs text-slate-300">
        <time dateTime={e.timestamp} title={absoluteTime(e.timestamp)}>
          {relativeTime(e.timestamp)}
        </time>
        {e.correlationId && <p className="truncate font-mono text-[10px] text-slate-500" title={`correlation id ${e.correlationId}`}>{e.correlationId}</p>}
      </div>
      <div role="cell" className="min-w-0">
        <p className="truncate font-medium">{ACTION_LABELS[e.action] ?? e.action}</p>
        <p className="truncate text-xs text-slate-500" title={detailText(e.details)}>
          {detailText(e.details) || e.action}
        </p>
      </div>
      <div role="cell" className="min-w-0">
        <p className="truncate">{actor}</p>
        <p className="text-xs text-slate-500">{e.principalType.replace('_', ' ')}</p>
      </div>
      <div role="cell" className="min-w-0 truncate font-mono text-xs text-slate-300" title={e.targetId ?? undefined}>
        {target}
      </div>
      <div role="cell" className={cx('text-xs font-semibold capitalize', OUTCOME_STYLE[e.outcome])}>
        {e.outcome}
      </div>
      <div role="cell" className="truncate font-mono text-xs text-slate-400">
        {e.clientAddress ?? '—'}
      </div>
    </div>
  );
});

export default function AuditPage() {
  const perms = usePermissions();
  if (perms.known && !perms.admin) {
    return (
      <div className="space-y-3">
        <h1 className="text-lg font-semibold">Audit trail</h1>
        <p className="text-sm text-slate-400">Only administrators can see the audit trail.</p>
      </div>
    );
  }
  return <AuditTrail />;
}

function AuditTrail() {
  const [action, setAction] = useState('');
  const [outcome, setOutcome] = useState('');
  const [targetType, setTargetType] = useState('');
  const [actorText, setActorText] = useState('');
  const [targetText, setTargetText] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const actor = useDeferredValue(actorText.trim());
  const targetId = useDeferredValue(targetText.trim());

  const filters = useMemo<AuditQuery>(() => {
    const f: AuditQuery = { limit: PAGE };
    const a = AUDIT_ACTIONS.find((x) => x === action);
    if (a) f.action = a;
    const o = AUDIT_OUTCOMES.find((x) => x === outcome);
    if (o) f.outcome = o;
    const t = AUDIT_TARGETS.find((x) => x === targetType);
    if (t) f.targetType = t;
    if (actor) f.actor = actor;
    if (targetId) f.targetId = targetId;
    const s = localDateTimeToIso(since);
    const u = localDateTimeToIso(until);
    if (s) f.from = s;
    if (u) f.to = u;
    return f;
  }, [action, outcome, targetType, actor, targetId, since, until]);

  const pages = useCursorPages(['audit'], filters, auditApi.list);
  const { items } = pages;

  const scroller = useRef<HTMLDivElement>(null);
  const getItemKey = useCallback((i: number) => items[i]!.id, [items]);
  const getScrollElement = useCallback(() => scroller.current, []);
  const virtual = useVirtualizer({ count: items.length, getScrollElement, estimateSize: rowHeight, overscan: 8, getItemKey });
  const shown = virtual.getVirtualItems();
  const lastShown = shown.length ? shown[shown.length - 1]!.index : -1;
  const { hasNextPage, isFetchingNextPage, isError, fetchNextPage } = pages.query;
  useEffect(() => {
    // Infinite scroll: the next page is asked for before the reader reaches the end.
    if (lastShown >= 0 && lastShown >= items.length - PREFETCH_ROWS && hasNextPage && !isFetchingNextPage && !isError) {
      void fetchNextPage();
    }
  }, [lastShown, items.length, hasNextPage, isFetchingNextPage, isError, fetchNextPage]);

  return (
    <div className="space-y-3">
      <h1 className="text-lg font-semibold">Audit trail</h1>
      <FilterForm label="Filter audit events">
        <FilterSelect label="Action" value={action} onChange={setAction} options={AUDIT_ACTIONS} optionLabel={(a) => ACTION_LABELS[a]} />
        <FilterSelect label="Outcome" value={outcome} onChange={setOutcome} options={AUDIT_OUTCOMES} />
        <FilterField label="Actor">
          <input className={filterControl} value={actorText} onChange={(e) => setActorText(e.target.value)} placeholder="username or id" />
        </FilterField>
        <FilterSelect label="Target" value={targetType} onChange={setTargetType} options={AUDIT_TARGETS} optionLabel={(t) => t.replace('_', ' ')} />
        <FilterField label="Target id">
          <input className={filterControl} value={targetText} onChange={(e) => setTargetText(e.target.value)} placeholder="exact id" />
        </FilterField>
        <TimeRangeFilter from={since} to={until} onFromChange={setSince} onToChange={setUntil} />
      </FilterForm>

      <PagedList pages={pages} loadingLabel="Loading audit events…" emptyText="No audit event matches these filters.">
        <div role="table" aria-label="Audit events" aria-rowcount={items.length + 1} className="overflow-x-auto rounded-lg border border-slate-800">
          <div className="min-w-[56rem]">
            <div role="row" className={cx(COLS, 'bg-slate-900 py-2 text-xs uppercase text-slate-400')}>
              <span role="columnheader">When</span>
              <span role="columnheader">Action</span>
              <span role="columnheader">Actor</span>
              <span role="columnheader">Target</span>
              <span role="columnheader">Outcome</span>
              <span role="columnheader">Address</span>
            </div>
            <div ref={scroller} data-testid="audit-scroller" className="relative h-[max(20rem,calc(100dvh-18rem))] overflow-y-auto" style={{ contain: 'strict' }}>
              <div role="rowgroup" className="relative w-full" style={{ height: virtual.getTotalSize() }}>
                {shown.map((v) => (
                  <AuditRow key={v.key} e={items[v.index]!} start={v.start} />
                ))}
              </div>
            </div>
          </div>
        </div>
      </PagedList>
    </div>
  );
}
