/**
 * NVRs (issue 11): every recorder of the fleet in a virtualised table (hundreds of rows
 * scroll smoothly), status changes live from the hub, filters with live counts, a
 * statistics bar and a drawer with the NVR's cameras and events. Admins add, edit and
 * delete NVRs and create the agent's key.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { Plus, Search } from 'lucide-react';
import { memo, useCallback, useDeferredValue, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import { errorMessage } from '../api/http';
import { usePermissions } from '../auth/auth';
import { FallbackNotice, NvrStatusBadge } from '../components/fleet/FleetUi';
import { DeleteNvrDialog, NvrFormDialog, NvrKeyDialog } from '../components/fleet/NvrDialogs';
import { NvrDrawer } from '../components/fleet/NvrDrawer';
import { Button, ErrorState, Spinner, cx } from '../components/ui';
import { useNvrs } from '../fleet';
import type { Nvr, NvrStatus } from '../fleet/types';
import { absoluteText, agoText } from '../fleet/time';
import { useNow } from '../lib/useNow';

const ROW_HEIGHT = 48;
const rowHeight = () => ROW_HEIGHT;
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
const COLS = 'grid grid-cols-[minmax(10rem,2fr)_7rem_8rem_minmax(9rem,1.2fr)_minmax(7rem,1fr)] items-center gap-3 px-3';
const select = 'rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5 text-sm';

function matchesText(n: Nvr, q: string): boolean {
  return !q || [n.hostname, n.deviceName ?? '', n.site ?? '', n.region ?? '', n.model ?? ''].some((s) => s.toLowerCase().includes(q));
}

const NvrRow = memo(function NvrRow({ n, now, onOpen, start }: { n: Nvr; now: number; onOpen: (id: string) => void; start: number }) {
  const c = n.cameraCounts;
  return (
    <div role="row" data-nvr-id={n.id} data-nvr-status={n.status} style={{ height: ROW_HEIGHT, transform: `translateY(${start}px)` }} className={cx(COLS, 'absolute left-0 top-0 w-full border-b border-slate-800 text-sm transition-colors duration-300 hover:bg-slate-900/60', n.status === 'offline' && 'bg-red-950/20')}>
      <div role="cell" className="min-w-0">
        <button type="button" onClick={() => onOpen(n.id)} className="block max-w-full truncate text-left font-medium hover:underline focus-visible:outline-2 focus-visible:outline-cyan-400">
          {n.deviceName || n.hostname}
        </button>
        <p className="truncate font-mono text-xs text-slate-500">{n.hostname}</p>
      </div>
      <div role="cell">
        <NvrStatusBadge status={n.status} />
      </div>
      <div role="cell" className="text-xs text-slate-400" title={absoluteText(n.lastSeen)}>
        {n.lastSeen ? agoText(n.lastSeen, now) : 'never'}
      </div>
      <div role="cell" className="text-xs tabular-nums">
        <span className="text-emerald-300">{c.online}</span>
        <span className="text-slate-500"> / {c.total}</span>
        {c.offline > 0 && <span className="ml-2 text-red-300">{c.offline} offline</span>}
        <div className="mt-1 flex h-1 overflow-hidden rounded bg-slate-800" aria-hidden="true">
          <span className="h-full bg-emerald-500 transition-[width] duration-300" style={{ width: `${c.total ? (c.online / c.total) * 100 : 0}%` }} />
          <span className="h-full bg-red-500 transition-[width] duration-300" style={{ width: `${c.total ? (c.offline / c.total) * 100 : 0}%` }} />
        </div>
      </div>
      <div role="cell" className="min-w-0 truncate text-slate-300">
        {[n.region, n.site].filter(Boolean).join(' · ') || '—'}
      </div>
    </div>
  );
});

export default function NvrsPage() {
  const perms = usePermissions();
  const { query, items } = useNvrs();
  const [params, setParams] = useSearchParams();
  const [text, setText] = useState('');
  const [status, setStatus] = useState<NvrStatus | ''>('');
  const region = params.get('region') ?? '';
  const openId = params.get('nvr');
  const [editing, setEditing] = useState<Nvr | null>(null);
  const [adding, setAdding] = useState(false);
  const [deleting, setDeleting] = useState<Nvr | null>(null);
  const [keyFor, setKeyFor] = useState<Nvr | null>(null);
  const now = useNow(5_000);
  const q = useDeferredValue(text.trim().toLowerCase());
  const setParam = useCallback(
    (k: string, v: string | null) =>
      setParams(
        (p) => {
          const next = new URLSearchParams(p);
          if (v) next.set(k, v);
          else next.delete(k);
          return next;
        },
        { replace: true },
      ),
    [setParams],
  );
  const openNvr = useCallback((id: string) => setParam('nvr', id), [setParam]);

  const byText = useMemo(() => items.filter((n) => matchesText(n, q)), [items, q]);
  const statusCounts = useMemo(() => {
    const m = { online: 0, offline: 0 };
    for (const n of byText) if (!region || (n.region ?? '') === region) m[n.status]++;
    return m;
  }, [byText, region]);
  const regionCounts = useMemo(() => {
    const m = new Map<string, number>();
    for (const n of byText) if (!status || n.status === status) m.set(n.region ?? '', (m.get(n.region ?? '') ?? 0) + 1);
    return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }, [byText, status]);
  const rows = useMemo(
    () =>
      byText
        .filter((n) => (!status || n.status === status) && (!region || (n.region ?? '') === region))
        // Offline first (what needs attention), then by name.
        .sort((a, b) => (a.status === b.status ? collator.compare(a.deviceName || a.hostname, b.deviceName || b.hostname) : a.status === 'offline' ? -1 : 1)),
    [byText, status, region],
  );
  const totals = useMemo(() => {
    const t = { nvrs: items.length, online: 0, offline: 0, cameras: 0, camerasOnline: 0, camerasOffline: 0 };
    for (const n of items) {
      t[n.status]++;
      t.cameras += n.cameraCounts.total;
      t.camerasOnline += n.cameraCounts.online;
      t.camerasOffline += n.cameraCounts.offline;
    }
    return t;
  }, [items]);

  const scroller = useRef<HTMLDivElement>(null);
  // Stable callbacks: the virtualizer re-measures every row when they change.
  const getItemKey = useCallback((i: number) => rows[i]!.id, [rows]);
  const getScrollElement = useCallback(() => scroller.current, []);
  const virtual = useVirtualizer({ count: rows.length, getScrollElement, estimateSize: rowHeight, overscan: 8, getItemKey });
  const open = openId ? items.find((n) => n.id === openId) ?? null : null;

  const chip = (active: boolean) => cx('inline-flex items-center gap-1.5 rounded-full border px-3 py-0.5 text-xs', active ? 'border-cyan-500 bg-slate-800' : 'border-slate-700 hover:bg-slate-800');

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <h1 className="mr-auto text-lg font-semibold">NVRs</h1>
        {perms.admin && (
          <Button variant="primary" onClick={() => setAdding(true)}>
            <Plus aria-hidden="true" className="h-4 w-4" /> Add NVR
          </Button>
        )}
      </div>
      <FallbackNotice />
      <dl aria-label="Fleet statistics" data-testid="nvr-stats" className="flex flex-wrap gap-x-6 gap-y-1 rounded-lg border border-slate-800 bg-slate-900/40 px-3 py-2 text-sm">
        {[
          ['NVRs', totals.nvrs, 'nvrs'],
          ['Online', totals.online, 'online'],
          ['Offline', totals.offline, 'offline'],
          ['Cameras', totals.cameras, 'cameras'],
          ['Cameras online', totals.camerasOnline, 'cameras-online'],
          ['Cameras offline', totals.camerasOffline, 'cameras-offline'],
        ].map(([label, v, k]) => (
          <div key={k} className="flex items-baseline gap-1.5">
            <dt className="text-slate-400">{label}</dt>
            <dd data-stat={k} className={cx('font-semibold tabular-nums', (k === 'offline' || k === 'cameras-offline') && Number(v) > 0 && 'text-red-300')}>
              {Number(v).toLocaleString()}
            </dd>
          </div>
        ))}
      </dl>
      <div className="flex flex-wrap items-center gap-2" role="search" aria-label="Filter NVRs">
        <ul aria-label="NVRs per status" className="flex flex-wrap gap-2">
          <li>
            <button type="button" aria-pressed={status === ''} onClick={() => setStatus('')} className={chip(status === '')}>
              All <span className="font-semibold">{statusCounts.online + statusCounts.offline}</span>
            </button>
          </li>
          {(['online', 'offline'] as const).map((s) => (
            <li key={s}>
              <button type="button" aria-pressed={status === s} data-filter-status={s} onClick={() => setStatus(status === s ? '' : s)} className={chip(status === s)}>
                <span className="capitalize">{s}</span> <span className="font-semibold">{statusCounts[s]}</span>
              </button>
            </li>
          ))}
        </ul>
        <label className="flex items-center gap-1 text-sm text-slate-300">
          Region
          <select className={select} value={region} onChange={(e) => setParam('region', e.target.value || null)}>
            <option value="">Any</option>
            {regionCounts.map(([r, n]) => (
              <option key={r} value={r}>
                {r || 'No region'} ({n})
              </option>
            ))}
          </select>
        </label>
        <label className="relative min-w-48 flex-1 sm:max-w-xs">
          <span className="sr-only">Search NVRs</span>
          <Search aria-hidden="true" className="absolute left-2 top-2 h-4 w-4 text-slate-500" />
          <input value={text} onChange={(e) => setText(e.target.value)} placeholder="Search name, host, site" className="w-full rounded-md border border-slate-700 bg-slate-900 py-1.5 pl-8 pr-2 text-sm" />
        </label>
      </div>

      {query.isPending && <Spinner label="Loading NVRs…" />}
      {query.isError && <ErrorState message={errorMessage(query.error)} onRetry={() => void query.refetch()} />}
      {query.isSuccess && !rows.length && (
        <p className="py-6 text-center text-sm text-slate-400">{items.length ? 'No NVR matches these filters.' : 'No NVR yet. Add one, then run its agent at the site.'}</p>
      )}
      {rows.length > 0 && (
        <div role="table" aria-label="NVRs" aria-rowcount={rows.length + 1} className="overflow-x-auto rounded-lg border border-slate-800">
          <div className="min-w-[44rem]">
            <div role="row" className={cx(COLS, 'bg-slate-900 py-2 text-xs uppercase text-slate-400')}>
              <span role="columnheader">Name</span>
              <span role="columnheader">Status</span>
              <span role="columnheader">Last seen</span>
              <span role="columnheader">Cameras</span>
              <span role="columnheader">Region · site</span>
            </div>
            <div ref={scroller} data-testid="nvr-scroller" className="relative h-[max(20rem,calc(100dvh-22rem))] overflow-y-auto" style={{ contain: 'strict' }}>
              <div role="rowgroup" className="relative w-full" style={{ height: virtual.getTotalSize() }}>
                {virtual.getVirtualItems().map((v) => (
                  <NvrRow key={v.key} n={rows[v.index]!} now={now} onOpen={openNvr} start={v.start} />
                ))}
              </div>
            </div>
          </div>
        </div>
      )}

      <NvrDrawer nvr={open} onClose={() => setParam('nvr', null)} onEdit={setEditing} onDelete={setDeleting} onKey={setKeyFor} />
      <NvrFormDialog open={adding || !!editing} nvr={editing} onClose={() => (setAdding(false), setEditing(null))} onCreated={(n) => setKeyFor(n)} />
      <DeleteNvrDialog nvr={deleting} onClose={() => setDeleting(null)} onDeleted={() => setParam('nvr', null)} />
      <NvrKeyDialog nvr={keyFor} onClose={() => setKeyFor(null)} />
    </div>
  );
}
