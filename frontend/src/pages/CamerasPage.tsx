import { LayoutGrid, Search, Table2 } from 'lucide-react';
import { useDeferredValue, useMemo, useState } from 'react';
import { errorMessage } from '../api/http';
import { CAMERA_STATUSES, type Camera, type CameraStatus } from '../api/types';
import { DeleteCameraDialog, EditCameraDialog } from '../components/CameraDialogs';
import { CameraDrawer } from '../components/CameraDrawer';
import { CameraTile } from '../components/CameraTile';
import { Boundary } from '../components/ErrorBoundary';
import { CameraTable, type GroupBy } from '../components/fleet/CameraTable';
import { Dot, ErrorState, Spinner, cx } from '../components/ui';
import { mergedStatus, useCameras } from '../lib/cameras';
import { useNvrs } from '../fleet';
import type { FleetCamera, Nvr } from '../fleet/types';
import { STATUS_COLORS, STATUS_LABELS } from '../lib/format';
import { setPrefs, usePrefs } from '../lib/prefs';
import { useSortedByName } from '../lib/useSortedByName';
import { useThrottled } from '../lib/useThrottled';
import { useRealtime } from '../realtime';

const select = 'rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5 text-sm';

export default function CamerasPage() {
  const q = useCameras();
  const live = useRealtime((s) => s.cameras);
  const prefs = usePrefs();
  const [text, setText] = useState('');
  const [status, setStatus] = useState<CameraStatus | ''>('');
  const [location, setLocation] = useState('');
  const [face, setFace] = useState<'' | 'on' | 'off'>('');
  const [nvrFilter, setNvrFilter] = useState('');
  const [region, setRegion] = useState('');
  const [groupBy, setGroupBy] = useState<GroupBy>('');
  const { items: nvrs } = useNvrs();
  const nvrById = useMemo(() => new Map<string, Nvr>(nvrs.map((n) => [n.id, n])), [nvrs]);
  const regions = useMemo(() => [...new Set(nvrs.map((n) => n.region).filter((r): r is string => !!r))].sort(), [nvrs]);
  const [openId, setOpenId] = useState<string | null>(null);
  const [editing, setEditing] = useState<Camera | null>(null);
  const [deleting, setDeleting] = useState<Camera | null>(null);
  const search = useDeferredValue(text.trim().toLowerCase());

  // The list (membership, filters, counts) follows the hub at most every 500 ms; each row
  // shows its own status at once (CameraTable reads it per row).
  const data = useThrottled(q.data, 500);
  const liveSlow = useThrottled(live, 500);
  const sorted = useSortedByName<FleetCamera>(data);
  const all = useMemo(() => sorted.map((c) => ({ camera: c, status: mergedStatus(c, liveSlow) })), [sorted, liveSlow]);
  const locations = useMemo(() => [...new Set(all.map((x) => x.camera.location).filter((l): l is string => !!l))].sort(), [all]);
  const counts = useMemo(() => {
    const m: Partial<Record<CameraStatus, number>> = {};
    for (const x of all) m[x.status] = (m[x.status] ?? 0) + 1;
    return m;
  }, [all]);
  const rows = useMemo(
    () =>
      all
        .filter((x) => !status || x.status === status)
        .filter((x) => !location || x.camera.location === location)
        .filter((x) => !face || x.camera.faceDetectionEnabled === (face === 'on'))
        .filter((x) => !nvrFilter || (nvrFilter === 'none' ? !x.camera.nvrId : x.camera.nvrId === nvrFilter))
        .filter((x) => !region || (x.camera.nvrId ? nvrById.get(x.camera.nvrId)?.region ?? '' : '') === region)
        .filter((x) => !search || [x.camera.name, x.camera.location ?? '', x.camera.rtspUrl].some((s) => s.toLowerCase().includes(search))),
    [all, status, location, face, search, nvrFilter, region, nvrById],
  );

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <h1 className="mr-auto text-lg font-semibold">Cameras</h1>
        <div role="group" aria-label="View" className="inline-flex rounded-md border border-slate-700">
          {(['table', 'grid'] as const).map((v) => (
            <button
              key={v}
              type="button"
              aria-pressed={prefs.camerasView === v}
              onClick={() => setPrefs({ camerasView: v })}
              className={cx('inline-flex items-center gap-1 px-2.5 py-1 text-sm capitalize focus-visible:outline-2 focus-visible:outline-cyan-400', prefs.camerasView === v ? 'bg-slate-700' : 'hover:bg-slate-800')}
            >
              {v === 'table' ? <Table2 aria-hidden="true" className="h-4 w-4" /> : <LayoutGrid aria-hidden="true" className="h-4 w-4" />} {v}
            </button>
          ))}
        </div>
      </div>

      <ul aria-label="Cameras per status" className="flex flex-wrap gap-2">
        <li>
          <button type="button" aria-pressed={status === ''} onClick={() => setStatus('')} className={cx('rounded-full border px-3 py-0.5 text-xs', status === '' ? 'border-cyan-500 bg-slate-800' : 'border-slate-700 hover:bg-slate-800')}>
            All <span className="font-semibold">{all.length}</span>
          </button>
        </li>
        {CAMERA_STATUSES.filter((s) => counts[s]).map((s) => (
          <li key={s}>
            <button
              type="button"
              aria-pressed={status === s}
              onClick={() => setStatus(status === s ? '' : s)}
              className={cx('inline-flex items-center gap-1.5 rounded-full border px-3 py-0.5 text-xs', status === s ? 'border-cyan-500 bg-slate-800' : 'border-slate-700 hover:bg-slate-800')}
            >
              <Dot color={STATUS_COLORS[s]} /> {STATUS_LABELS[s]} <span className="font-semibold">{counts[s]}</span>
            </button>
          </li>
        ))}
      </ul>

      <div className="flex flex-wrap items-center gap-2" role="search" aria-label="Filter cameras">
        <label className="relative min-w-48 flex-1 sm:max-w-xs">
          <span className="sr-only">Search cameras</span>
          <Search aria-hidden="true" className="absolute left-2 top-2 h-4 w-4 text-slate-500" />
          <input value={text} onChange={(e) => setText(e.target.value)} placeholder="Search name, location, address" className="w-full rounded-md border border-slate-700 bg-slate-900 py-1.5 pl-8 pr-2 text-sm" />
        </label>
        <label className="flex items-center gap-1 text-sm text-slate-300">
          Status
          <select className={select} value={status} onChange={(e) => setStatus(e.target.value as CameraStatus | '')}>
            <option value="">Any</option>
            {CAMERA_STATUSES.map((s) => (
              <option key={s} value={s}>
                {STATUS_LABELS[s]}
              </option>
            ))}
          </select>
        </label>
        <label className="flex items-center gap-1 text-sm text-slate-300">
          Location
          <select className={select} value={location} onChange={(e) => setLocation(e.target.value)}>
            <option value="">Any</option>
            {locations.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label className="flex items-center gap-1 text-sm text-slate-300">
          Face detection
          <select className={select} value={face} onChange={(e) => setFace(e.target.value as '' | 'on' | 'off')}>
            <option value="">Any</option>
            <option value="on">On</option>
            <option value="off">Off</option>
          </select>
        </label>
        {nvrs.length > 0 && (
          <>
            <label className="flex items-center gap-1 text-sm text-slate-300">
              NVR
              <select className={select} value={nvrFilter} onChange={(e) => setNvrFilter(e.target.value)}>
                <option value="">Any</option>
                <option value="none">No NVR</option>
                {nvrs.map((n) => (
                  <option key={n.id} value={n.id}>
                    {n.deviceName || n.hostname}
                  </option>
                ))}
              </select>
            </label>
            <label className="flex items-center gap-1 text-sm text-slate-300">
              Region
              <select className={select} value={region} onChange={(e) => setRegion(e.target.value)}>
                <option value="">Any</option>
                {regions.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <label className="flex items-center gap-1 text-sm text-slate-300">
              Group by
              <select className={select} value={groupBy} onChange={(e) => setGroupBy(e.target.value as GroupBy)}>
                <option value="">Nothing</option>
                <option value="nvr">NVR</option>
                <option value="region">Region</option>
              </select>
            </label>
          </>
        )}
      </div>

      {q.isPending && <Spinner label="Loading cameras…" />}
      {q.isError && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />}
      {q.isSuccess && !rows.length && <p className="py-6 text-center text-sm text-slate-400">{all.length ? 'No camera matches these filters.' : 'No cameras yet.'}</p>}

      {rows.length > 0 && prefs.camerasView === 'grid' && (
        <div className="grid grid-cols-1 gap-3 sm:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4">
          {rows.map(({ camera }) => (
            <Boundary key={camera.id} what={`The tile of ${camera.name}`} variant="tile">
              <CameraTile camera={camera} onOpen={(c) => setOpenId(c.id)} />
            </Boundary>
          ))}
        </div>
      )}

      {rows.length > 0 && prefs.camerasView === 'table' && (
        <CameraTable rows={rows} groupBy={groupBy} nvrs={nvrById} onOpen={setOpenId} onEdit={setEditing} onDelete={setDeleting} />
      )}

      <CameraDrawer cameraId={openId} onClose={() => setOpenId(null)} onEdit={setEditing} onDelete={setDeleting} />
      <EditCameraDialog camera={editing} onClose={() => setEditing(null)} />
      <DeleteCameraDialog camera={deleting} onClose={() => setDeleting(null)} />
    </div>
  );
}
