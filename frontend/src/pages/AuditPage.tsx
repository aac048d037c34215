/**
 * Audit trail (issue 14 item 7, admins only): who did what to which target, from where and
 * how it ended, newest first. Filters go to the server; pages follow the cursor as the list
 * scrolls (virtualised, so thousands of rows stay smooth) or with "Load more".
 */
import { useInfiniteQuery } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { errorMessage } from '../api/http';
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
import { Button, ErrorState, Spinner, cx } from '../components/ui';
import { absoluteTime, relativeTime } from '../lib/format';

const PAGE = 100;
const ROW_HEIGHT = 56;
const rowHeight = () => ROW_HEIGHT;
/** Fetch the next page when the last rendered row is this close to the end. */
const PREFETCH_ROWS = 10;
const select = 'rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5 text-sm';
const COLS = 'grid grid-cols-[10rem_minmax(10rem,1.3fr)_minmax(8rem,1fr)_minmax(8rem,1fr)_6rem_minmax(8rem,1fr)] items-center gap-3 px-3';
const OUTCOME_STYLE: Record<string, string> = {
  success: 'text-emerald-300',
  failure: 'text-amber-300',
  denied: 'text-red-300',
};

function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

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
    const s = toIso(since);
    const u = toIso(until);
    if (s) f.from = s;
    if (u) f.to = u;
    return f;
  }, [action, outcome, targetType, actor, targetId, since, until]);

  const q = useInfiniteQuery({
    queryKey: ['audit', filters],
    queryFn: ({ pageParam }) => auditApi.list(pageParam ? { ...filters, cursor: pageParam } : filters),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor || undefined,
  });
  const items = useMemo(() => q.data?.pages.flatMap((p) => p.items) ?? [], [q.data]);

  const scroller = useRef<HTMLDivElement>(null);
  const getItemKey = useCallback((i: number) => items[i]!.id, [items]);
  const getScrollElement = useCallback(() => scroller.current, []);
  const virtual = useVirtualizer({ count: items.length, getScrollElement, estimateSize: rowHeight, overscan: 8, getItemKey });
  const shown = virtual.getVirtualItems();
  const lastShown = shown.length ? shown[shown.length - 1]!.index : -1;
  const { hasNextPage, isFetchingNextPage, isError, fetchNextPage } = q;
  useEffect(() => {
    // Infinite scroll: the next page is asked for before the reader reaches the end.
    if (lastShown >= 0 && lastShown >= items.length - PREFETCH_ROWS && hasNextPage && !isFetchingNextPage && !isError) {
      void fetchNextPage();
    }
  }, [lastShown, items.length, hasNextPage, isFetchingNextPage, isError, fetchNextPage]);

  return (
    <div className="space-y-3">
      <h1 className="text-lg font-semibold">Audit trail</h1>
      <form className="flex flex-wrap items-end gap-2" role="search" aria-label="Filter audit events" onSubmit={(e) => e.preventDefault()}>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Action
          <select className={select} value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">Any</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {ACTION_LABELS[a]}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Outcome
          <select className={select} value={outcome} onChange={(e) => setOutcome(e.target.value)}>
            <option value="">Any</option>
            {AUDIT_OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Actor
          <input className={select} value={actorText} onChange={(e) => setActorText(e.target.value)} placeholder="username or id" />
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Target
          <select className={select} value={targetType} onChange={(e) => setTargetType(e.target.value)}>
            <option value="">Any</option>
            {AUDIT_TARGETS.map((t) => (
              <option key={t} value={t}>
                {t.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          Target id
          <input className={select} value={targetText} onChange={(e) => setTargetText(e.target.value)} placeholder="exact id" />
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          From
          <input type="datetime-local" className={select} value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
        <label className="flex flex-col gap-0.5 text-xs text-slate-400">
          To
          <input type="datetime-local" className={select} value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
      </form>

      {q.isPending && <Spinner label="Loading audit events…" />}
      {q.isError && !items.length && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />}
      {q.isSuccess && !items.length && <p className="py-6 text-center text-sm text-slate-400">No audit event matches these filters.</p>}
      {items.length > 0 && (
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
