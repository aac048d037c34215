/**
 * The cameras table, virtualised (8,000 rows scroll smoothly) and optionally grouped by NVR
 * or region: a group header row, then its cameras. Only the rows in view are in the DOM;
 * spacer rows keep the scroll height.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useMemo, useRef } from 'react';
import type { Camera, CameraStatus } from '../../api/types';
import type { FleetCamera, Nvr } from '../../fleet/types';
import { useFleet } from '../../fleet';
import { absoluteText, agoText } from '../../fleet/time';
import { liveWorker } from '../../lib/cameras';
import { shortWorkerId } from '../../lib/workers';
import { useCameraLive } from '../../realtime';
import { CameraActions } from '../CameraActions';
import { StatusBadge } from '../CameraStatus';
import { ReachabilityBadge } from './FleetUi';

export type GroupBy = '' | 'nvr' | 'region';

export interface CameraRow {
  camera: FleetCamera;
  status: CameraStatus;
}

type Item = { kind: 'group'; key: string; label: string; count: number; offline: number } | ({ kind: 'camera'; key: string } & CameraRow);

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

export function groupKey(c: FleetCamera, by: GroupBy, nvrs: ReadonlyMap<string, Nvr>): { key: string; label: string } {
  const nvr = c.nvrId ? nvrs.get(c.nvrId) : undefined;
  if (by === 'nvr') return c.nvrId ? { key: c.nvrId, label: nvr ? nvr.deviceName || nvr.hostname : 'Unknown NVR' } : { key: '', label: 'No NVR' };
  const region = nvr?.region ?? '';
  return { key: region, label: region || 'No region' };
}

/** Group headers and rows in display order (groups by label, "No …" last). */
export function flatten(rows: readonly CameraRow[], by: GroupBy, nvrs: ReadonlyMap<string, Nvr>): Item[] {
  if (!by) return rows.map((r) => ({ kind: 'camera', key: r.camera.id, ...r }));
  const groups = new Map<string, { label: string; rows: CameraRow[] }>();
  for (const r of rows) {
    const g = groupKey(r.camera, by, nvrs);
    let e = groups.get(g.key);
    if (!e) groups.set(g.key, (e = { label: g.label, rows: [] }));
    e.rows.push(r);
  }
  const order = [...groups.entries()].sort(([ka, a], [kb, b]) => (ka === '' ? 1 : kb === '' ? -1 : collator.compare(a.label, b.label)));
  const out: Item[] = [];
  for (const [k, g] of order) {
    out.push({ kind: 'group', key: `g:${k}`, label: g.label, count: g.rows.length, offline: g.rows.filter((r) => r.camera.reachability === 'offline').length });
    for (const r of g.rows) out.push({ kind: 'camera', key: r.camera.id, ...r });
  }
  return out;
}

/** One camera; it reads its own live state (hub), so a status change re-renders this row only. */
const Row = memo(function Row({ camera: base, nvr, onOpen, onEdit, onDelete }: { camera: FleetCamera; nvr: Nvr | undefined; onOpen: (id: string) => void; onEdit: (c: Camera) => void; onDelete: (c: Camera) => void }) {
  const patch = useFleet((s) => s.cameras[base.id]);
  const rt = useCameraLive(base.id);
  const camera = useMemo(() => (patch && patch.updatedAt >= base.updatedAt ? { ...base, ...patch } : base), [base, patch]);
  const fromLive = !!rt && (!rt.timestamp || rt.timestamp >= camera.updatedAt);
  const status = fromLive ? rt.status : camera.status;
  const detail = fromLive ? rt.details : camera.statusDetail ?? null;
  const attempt = rt?.attempt ?? null;
  const worker = liveWorker(rt, fromLive) ?? camera.workerId ?? null;
  return (
    <tr data-camera-id={camera.id} className="h-[41px] hover:bg-slate-900/60">
      <td className="truncate px-3 py-2">
        <button type="button" onClick={() => onOpen(camera.id)} className="font-medium hover:underline focus-visible:outline-2 focus-visible:outline-cyan-400">
          {camera.name}
        </button>
      </td>
      <td className="px-3 py-2">
        <StatusBadge status={status} attempt={attempt} detail={detail} />
      </td>
      <td className="hidden truncate px-3 py-2 font-mono text-xs text-slate-300 md:table-cell" title={worker ?? 'No worker holds this camera'} data-testid="camera-worker">
        {shortWorkerId(worker)}
      </td>
      <td className="hidden truncate px-3 py-2 sm:table-cell">
        <ReachabilityBadge value={camera.reachability} detail={camera.reachabilityDetail} />
      </td>
      <td className="hidden truncate px-3 py-2 text-slate-300 md:table-cell">
        {nvr ? `${nvr.deviceName || nvr.hostname}${camera.nvrChannel != null ? ` · ch${camera.nvrChannel}` : ''}` : '—'}
      </td>
      <td className="hidden truncate px-3 py-2 text-slate-300 lg:table-cell">{nvr?.region ?? camera.location ?? '—'}</td>
      <td className="hidden truncate px-3 py-2 font-mono text-xs text-slate-400 xl:table-cell" title={camera.rtspUrl}>
        {camera.rtspUrl}
      </td>
      <td className="hidden px-3 py-2 text-slate-400 2xl:table-cell" title={absoluteText(camera.updatedAt)}>
        {agoText(camera.updatedAt, Date.now())}
      </td>
      <td className="px-3 py-2">
        <div className="flex justify-end">
          <CameraActions camera={camera} status={status} onEdit={onEdit} onDelete={onDelete} compact />
        </div>
      </td>
    </tr>
  );
});

const COLS = 9;

export function CameraTable({ rows, groupBy, nvrs, onOpen, onEdit, onDelete }: { rows: readonly CameraRow[]; groupBy: GroupBy; nvrs: ReadonlyMap<string, Nvr>; onOpen: (id: string) => void; onEdit: (c: Camera) => void; onDelete: (c: Camera) => void }) {
  const items = useMemo(() => flatten(rows, groupBy, nvrs), [rows, groupBy, nvrs]);
  const scroller = useRef<HTMLDivElement>(null);
  // Stable callbacks: the virtualizer re-measures every row when they change.
  const estimateSize = useCallback((i: number) => (items[i]!.kind === 'group' ? 33 : 41), [items]);
  const getItemKey = useCallback((i: number) => items[i]!.key, [items]);
  const getScrollElement = useCallback(() => scroller.current, []);
  const v = useVirtualizer({ count: items.length, getScrollElement, estimateSize, overscan: 10, getItemKey });
  const vis = v.getVirtualItems();
  const top = vis[0]?.start ?? 0;
  const bottom = v.getTotalSize() - (vis.at(-1)?.end ?? 0);
  return (
    <div ref={scroller} data-testid="camera-scroller" className="max-h-[max(24rem,calc(100dvh-20rem))] overflow-auto rounded-lg border border-slate-800">
      <table className="w-full table-fixed text-left text-sm" aria-rowcount={items.length + 1}>
        <caption className="sr-only">Cameras</caption>
        <thead className="sticky top-0 z-10 bg-slate-900 text-xs uppercase text-slate-400">
          <tr>
            <th scope="col" className="px-3 py-2">Name</th>
            <th scope="col" className="w-32 px-3 py-2">Stream</th>
            <th scope="col" className="hidden w-36 px-3 py-2 md:table-cell">Worker</th>
            <th scope="col" className="hidden w-36 px-3 py-2 sm:table-cell">Reachability</th>
            <th scope="col" className="hidden w-48 px-3 py-2 md:table-cell">NVR</th>
            <th scope="col" className="hidden w-28 px-3 py-2 lg:table-cell">Region</th>
            <th scope="col" className="hidden px-3 py-2 xl:table-cell">RTSP URL</th>
            <th scope="col" className="hidden w-28 px-3 py-2 2xl:table-cell">Updated</th>
            <th scope="col" className="w-40 px-3 py-2"><span className="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-800">
          {top > 0 && <tr aria-hidden="true" style={{ height: top }} />}
          {vis.map((vi) => {
            const it = items[vi.index]!;
            if (it.kind === 'group') {
              return (
                <tr key={it.key} data-group={it.label} className="h-[33px] bg-slate-900/80">
                  <th scope="rowgroup" colSpan={COLS} className="px-3 py-1.5 text-xs font-semibold text-slate-300">
                    {it.label} <span className="font-normal text-slate-400">· {it.count} camera{it.count === 1 ? '' : 's'}</span>
                    {it.offline > 0 && <span className="ml-2 font-normal text-red-300">{it.offline} offline</span>}
                  </th>
                </tr>
              );
            }
            return <Row key={it.key} camera={it.camera} nvr={it.camera.nvrId ? nvrs.get(it.camera.nvrId) : undefined} onOpen={onOpen} onEdit={onEdit} onDelete={onDelete} />;
          })}
          {bottom > 0 && <tr aria-hidden="true" style={{ height: bottom }} />}
        </tbody>
      </table>
    </div>
  );
}
