/** /streams/:id — one mobile stream live: its latest frame on a canvas (binary frames over the
 * relay), the frame rate, its status and its alerts as they arrive. */
import { useQuery } from '@tanstack/react-query';
import { ArrowLeft } from 'lucide-react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/http';
import { RelayStateBadge, StreamStatusBadge } from '../components/StreamBadges';
import { StreamAlertList } from '../components/StreamAlertList';
import { ErrorState, Spinner, Switch } from '../components/ui';
import { absoluteTime, relativeTime } from '../lib/format';
import { mergeStream, useStreamActions } from '../lib/streams';
import { useNow } from '../lib/useNow';
import { useStreamLive } from '../realtime';
import { fromAlert, fromRelayAlert, mergeAlerts, type StreamAlertItem } from '../relay/alerts';
import { FrameSink, type FrameSinkStats } from '../relay/frameSink';
import type { RelayJoin } from '../relay/protocol';
import { useRelay } from '../relay/useRelay';

export default function StreamViewerPage() {
  const { id = '' } = useParams();
  // Viewer counts change without a status change: refetched now and then, and once this
  // page's own subscription is in.
  const q = useQuery({ queryKey: ['stream', id], queryFn: () => api.getStream(id), enabled: !!id, refetchInterval: 10_000 });
  const live = useStreamLive(id);
  const stream = q.data ? mergeStream(q.data, live) : undefined;
  const { setFaceDetection } = useStreamActions();
  const now = useNow(10_000);

  const join = useMemo<RelayJoin | null>(
    () => (id && q.isSuccess ? { type: 'subscribe', clientType: 'dashboard', streamId: id, consumes: ['video', 'alerts'], binary: true } : null),
    [id, q.isSuccess],
  );
  const { client, snap } = useRelay(join);
  const refetchStream = q.refetch;
  useEffect(() => {
    if (snap.state === 'ready') void refetchStream();
  }, [snap.state, refetchStream]);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [stats, setStats] = useState<FrameSinkStats>({ drawn: 0, skipped: 0, fps: 0, width: 0, height: 0 });
  const [alerts, setAlerts] = useState<StreamAlertItem[]>([]);
  const [status, setStatus] = useState<{ status: 'offline' | 'online' | 'streaming'; lastSeen: string | null } | null>(null);

  const history = useQuery({ queryKey: ['alerts', 'stream', id], queryFn: () => api.listAlerts({ streamId: id, limit: 20 }), enabled: !!id });
  useEffect(() => {
    if (history.data) setAlerts((list) => mergeAlerts(list, history.data.items.map(fromAlert)));
  }, [history.data]);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!client || !canvas) return;
    const sink = new FrameSink(canvas);
    const offFrame = client.onFrame((f) => {
      if (f.streamId === id) sink.push(f.payload);
    });
    const offMsg = client.onMessage((m) => {
      if (m.type === 'alert' && m.streamId === id) setAlerts((list) => mergeAlerts(list, [fromRelayAlert(m)]));
      else if (m.type === 'stream-status' && m.streamId === id) setStatus({ status: m.status, lastSeen: m.lastSeen ?? null });
    });
    const t = setInterval(() => setStats({ ...sink.refresh() }), 500);
    return () => {
      clearInterval(t);
      offFrame();
      offMsg();
      sink.close();
    };
  }, [client, id]);

  if (q.isPending) return <Spinner label="Loading stream…" />;
  if (q.isError || !stream) return <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />;
  // The relay's own status message is the freshest for this page.
  const shown = status ? { ...stream, status: status.status, lastSeen: status.lastSeen ?? stream.lastSeen } : stream;

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <Link to="/streams" aria-label="Back to streams" className="rounded-md p-1.5 hover:bg-slate-800">
          <ArrowLeft aria-hidden="true" className="h-5 w-5" />
        </Link>
        <h1 className="truncate text-lg font-semibold">{shown.deviceName}</h1>
        <StreamStatusBadge status={shown.status} />
        <RelayStateBadge state={snap.state} className="ml-auto" />
      </div>
      {snap.state === 'closed' && snap.message && <ErrorState message={snap.message} />}
      <div className="grid gap-3 lg:grid-cols-[minmax(0,1fr)_20rem]">
        <section aria-label="Video" className="space-y-2">
          <div className="relative flex aspect-video items-center justify-center overflow-hidden rounded-lg bg-black">
            <canvas ref={canvasRef} data-testid="stream-canvas" data-frames={stats.drawn} aria-label={`Live picture of ${shown.deviceName}`} className="h-full w-full object-contain" />
            {stats.drawn === 0 && (
              <p className="absolute text-sm text-slate-400">{shown.status === 'streaming' ? 'Waiting for a frame…' : 'The stream is not sending video.'}</p>
            )}
          </div>
          <p className="flex flex-wrap gap-x-4 text-xs text-slate-400">
            <span>
              <strong data-testid="viewer-fps" className="text-slate-200">
                {stats.fps.toFixed(1)}
              </strong>{' '}
              fps
            </span>
            {stats.width > 0 && (
              <span>
                {stats.width}×{stats.height}
              </span>
            )}
            <span>{stats.drawn} frames shown</span>
            {stats.skipped > 0 && <span>{stats.skipped} skipped</span>}
            <span data-testid="viewer-count">
              {shown.viewers ?? 0} {shown.viewers === 1 ? 'viewer' : 'viewers'}
            </span>
            {shown.status === 'offline' && shown.lastSeen && (
              <span>
                Last seen <time dateTime={shown.lastSeen} title={absoluteTime(shown.lastSeen)}>{relativeTime(shown.lastSeen, now)}</time>
              </span>
            )}
          </p>
          <label className="flex items-center gap-2 text-sm text-slate-300">
            <Switch checked={shown.faceDetectionEnabled} label={`Face detection on ${shown.deviceName}`} onChange={(v) => void setFaceDetection(stream, v)} />
            Face detection
          </label>
        </section>
        <StreamAlertList
          alerts={alerts}
          empty="No alerts for this stream yet."
          footer={
            <Link to={`/alerts?streamId=${encodeURIComponent(id)}`} className="text-sm text-cyan-300 hover:underline">
              All alerts of this stream
            </Link>
          }
        />
      </div>
    </div>
  );
}
