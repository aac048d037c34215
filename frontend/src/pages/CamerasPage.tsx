import { LayoutGrid, Search, Table2 } from 'lucide-react';
import { useDeferredValue, useMemo, useState } from 'react';
import { errorMessage } from '../api/http';
import { CAMERA_STATUSES, type Camera, type CameraStatus } from '../api/types';
import { CameraActions } from '../components/CameraActions';
import { DeleteCameraDialog, EditCameraDialog } from '../components/CameraDialogs';
import { CameraDrawer } from '../components/CameraDrawer';
import { StatusBadge } from '../components/CameraStatus';
import { CameraTile } from '../components/CameraTile';
import { Dot, ErrorState, Spinner, cx } from '../components/ui';
import { mergedStatus, useCameras } from '../lib/cameras';
import { STATUS_COLORS, STATUS_LABELS, relativeTime } from '../lib/format';
import { setPrefs, usePrefs } from '../lib/prefs';
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
  const [openId, setOpenId] = useState<string | null>(null);
  const [editing, setEditing] = useState<Camera | null>(null);
  const [deleting, setDeleting] = useState<Camera | null>(null);
  const search = useDeferredValue(text.trim().toLowerCase());

  const all = useMemo(() => (q.data ?? []).map((c) => ({ camera: c, status: mergedStatus(c, live) })), [q.data, live]);
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
        .filter((x) => !search || [x.camera.name, x.camera.location ?? '', x.camera.rtspUrl].some((s) => s.toLowerCase().includes(search)))
        .sort((a, b) => a.camera.name.localeCompare(b.camera.name)),
    [all, status, location, face, search],
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
      </div>

      {q.isPending && <Spinner label="Loading cameras…" />}
      {q.isError && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />}
      {q.isSuccess && !rows.length && <p className="py-6 text-center text-sm text-slate-400">{all.length ? 'No camera matches these filters.' : 'No cameras yet.'}</p>}

      {rows.length > 0 && prefs.camerasView === 'grid' && (
        <div className="grid grid-cols-1 gap-3 sm:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4">
          {rows.map(({ camera }) => (
            <CameraTile key={camera.id} camera={camera} onOpen={(c) => setOpenId(c.id)} />
          ))}
        </div>
      )}

      {rows.length > 0 && prefs.camerasView === 'table' && (
        <div className="overflow-x-auto rounded-lg border border-slate-800">
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Cameras</caption>
            <thead className="bg-slate-900 text-xs uppercase text-slate-400">
              <tr>
                <th scope="col" className="px-3 py-2">Name</th>
                <th scope="col" className="px-3 py-2">Status</th>
                <th scope="col" className="hidden px-3 py-2 md:table-cell">Location</th>
                <th scope="col" className="hidden px-3 py-2 lg:table-cell">RTSP URL</th>
                <th scope="col" className="hidden px-3 py-2 sm:table-cell">Face detection</th>
                <th scope="col" className="hidden px-3 py-2 xl:table-cell">Updated</th>
                <th scope="col" className="px-3 py-2"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-800">
              {rows.map(({ camera, status: st }) => (
                <tr key={camera.id} data-camera-id={camera.id} className="hover:bg-slate-900/60">
                  <td className="px-3 py-2">
                    <button type="button" onClick={() => setOpenId(camera.id)} className="font-medium hover:underline focus-visible:outline-2 focus-visible:outline-cyan-400">
                      {camera.name}
                    </button>
                  </td>
                  <td className="px-3 py-2">
                    <StatusBadge status={st} attempt={live[camera.id]?.attempt ?? null} />
                  </td>
                  <td className="hidden px-3 py-2 text-slate-300 md:table-cell">{camera.location ?? '—'}</td>
                  <td className="hidden max-w-xs truncate px-3 py-2 font-mono text-xs text-slate-400 lg:table-cell" title={camera.rtspUrl}>
                    {camera.rtspUrl}
                  </td>
                  <td className="hidden px-3 py-2 sm:table-cell">{camera.faceDetectionEnabled ? 'On' : 'Off'}</td>
                  <td className="hidden px-3 py-2 text-slate-400 xl:table-cell">{relativeTime(camera.updatedAt)}</td>
                  <td className="px-3 py-2">
                    <div className="flex justify-end">
                      <CameraActions camera={camera} status={st} onEdit={setEditing} onDelete={setDeleting} compact />
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <CameraDrawer cameraId={openId} onClose={() => setOpenId(null)} onEdit={setEditing} onDelete={setDeleting} />
      <EditCameraDialog camera={editing} onClose={() => setEditing(null)} />
      <DeleteCameraDialog camera={deleting} onClose={() => setDeleting(null)} />
    </div>
  );
}
