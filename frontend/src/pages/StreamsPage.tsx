/** /streams: the mobile streams this user owns (admins: all), live from the hub. */
import { Eye, Smartphone, Trash2 } from 'lucide-react';
import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { errorMessage } from '../api/http';
import { STREAM_STATUSES, type StreamOut } from '../api/types';
import { STREAM_STATUS_LABELS, StreamStatusBadge } from '../components/StreamBadges';
import { Button, ConfirmDialog, ErrorState, Spinner, Switch, cx } from '../components/ui';
import { absoluteTime, relativeTime } from '../lib/format';
import { mergeStream, useStreamActions, useStreams } from '../lib/streams';
import { useNow } from '../lib/useNow';
import { useRealtime } from '../realtime';

const ORDER: Record<StreamOut['status'], number> = { streaming: 0, online: 1, offline: 2 };

export default function StreamsPage() {
  const q = useStreams();
  const live = useRealtime((s) => s.streams);
  const now = useNow(10_000);
  const { setFaceDetection, remove } = useStreamActions();
  const [deleting, setDeleting] = useState<StreamOut | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const rows = useMemo(
    () =>
      (q.data ?? [])
        .map((s) => mergeStream(s, live[s.id]))
        .sort((a, b) => ORDER[a.status] - ORDER[b.status] || a.deviceName.localeCompare(b.deviceName)),
    [q.data, live],
  );
  const counts = useMemo(() => {
    const m: Partial<Record<StreamOut['status'], number>> = {};
    for (const s of rows) m[s.status] = (m[s.status] ?? 0) + 1;
    return m;
  }, [rows]);

  const confirmDelete = async () => {
    if (!deleting) return;
    setBusy(true);
    setDeleteError(null);
    try {
      await remove(deleting);
      setDeleting(null);
    } catch (e) {
      setDeleteError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <h1 className="mr-auto text-lg font-semibold">Streams</h1>
        <Link to="/publish" className="inline-flex items-center gap-1.5 rounded-md border border-slate-700 bg-slate-800 px-3 py-1.5 text-sm hover:bg-slate-700">
          <Smartphone aria-hidden="true" className="h-4 w-4" /> Publish from this device
        </Link>
      </div>
      {rows.length > 0 && (
        <p className="flex flex-wrap gap-3 text-xs text-slate-400" aria-label="Streams per status">
          {STREAM_STATUSES.filter((s) => counts[s]).map((s) => (
            <span key={s}>
              {STREAM_STATUS_LABELS[s]}: <strong className="text-slate-200">{counts[s]}</strong>
            </span>
          ))}
        </p>
      )}

      {q.isPending && <Spinner label="Loading streams…" />}
      {q.isError && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />}
      {q.isSuccess && !rows.length && (
        <p className="py-6 text-center text-sm text-slate-400">
          No streams yet. Open <Link className="text-cyan-300 underline" to="/publish">/publish</Link> on a phone to stream its camera here.
        </p>
      )}

      {rows.length > 0 && (
        <ul className="divide-y divide-slate-800 rounded-lg border border-slate-800" aria-label="Streams">
          {rows.map((s) => (
            <li key={s.id} data-stream-id={s.id} className="flex flex-wrap items-center gap-x-4 gap-y-2 p-3">
              <div className="min-w-0 flex-1">
                <div className="flex flex-wrap items-center gap-2">
                  <Link to={`/streams/${s.id}`} className="truncate font-medium text-slate-100 hover:underline">
                    {s.deviceName}
                  </Link>
                  <StreamStatusBadge status={s.status} />
                </div>
                <p className="flex flex-wrap gap-x-3 text-xs text-slate-400">
                  <span className="capitalize">{s.deviceType}</span>
                  {typeof s.metadata.resolution === 'string' && <span>{s.metadata.resolution}</span>}
                  <span>
                    Last seen{' '}
                    {s.status !== 'offline' ? (
                      'now'
                    ) : s.lastSeen ? (
                      <time dateTime={s.lastSeen} title={absoluteTime(s.lastSeen)}>
                        {relativeTime(s.lastSeen, now)}
                      </time>
                    ) : (
                      'never'
                    )}
                  </span>
                  <span data-testid="viewers">
                    {s.viewers ?? 0} {s.viewers === 1 ? 'viewer' : 'viewers'}
                  </span>
                  {!!s.mlConsumers && <span>{s.mlConsumers} ML</span>}
                </p>
              </div>
              <label className="flex items-center gap-2 text-xs text-slate-300">
                <Switch checked={s.faceDetectionEnabled} label={`Face detection on ${s.deviceName}`} onChange={(v) => void setFaceDetection(s, v)} />
                Face detection
              </label>
              <div className="flex items-center gap-1">
                <Link
                  to={`/streams/${s.id}`}
                  aria-label={`View ${s.deviceName}`}
                  className={cx('inline-flex items-center gap-1 rounded-md px-2 py-1.5 text-sm hover:bg-slate-800')}
                >
                  <Eye aria-hidden="true" className="h-4 w-4" /> View
                </Link>
                <Button variant="icon" aria-label={`Delete ${s.deviceName}`} onClick={() => setDeleting(s)}>
                  <Trash2 aria-hidden="true" className="h-4 w-4" />
                </Button>
              </div>
            </li>
          ))}
        </ul>
      )}

      <ConfirmDialog
        open={deleting !== null}
        title="Delete stream"
        body={
          <p>
            Delete <strong>{deleting?.deviceName}</strong>? A phone streaming to it is disconnected.
          </p>
        }
        confirmLabel="Delete"
        busy={busy}
        error={deleteError}
        onConfirm={() => void confirmDelete()}
        onClose={() => {
          setDeleting(null);
          setDeleteError(null);
        }}
      />
    </div>
  );
}
