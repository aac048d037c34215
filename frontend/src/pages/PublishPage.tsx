/**
 * /publish: this browser (a phone, usually) as a stream source. Registers a stream, opens the
 * camera, sends JPEG frames as binary relay frames at the chosen rate and size, pauses while
 * the page is hidden, reconnects with backoff, and lists the alerts the stream receives.
 */
import { Camera, CircleStop, LayoutGrid, ShieldAlert } from 'lucide-react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/http';
import { RelayStateBadge } from '../components/StreamBadges';
import { StreamAlertList } from '../components/StreamAlertList';
import { Button, ErrorState } from '../components/ui';
import { guessDevice } from '../lib/device';
import { formatBytes } from '../lib/format';
import { fromRelayAlert, mergeAlerts, type StreamAlertItem } from '../relay/alerts';
import type { RelayJoin } from '../relay/protocol';
import { Publisher, canvasGrabber } from '../relay/publisher';
import { useRelay } from '../relay/useRelay';

const WIDTHS = [320, 640, 1280] as const;
const REMEMBER_KEY = 'beholder.publish';
const field = 'rounded-md border border-slate-700 bg-slate-900 px-2 py-1.5 text-sm';

interface Remembered {
  streamId: string;
  deviceName: string;
}

function loadRemembered(): Remembered | null {
  try {
    const v = JSON.parse(localStorage.getItem(REMEMBER_KEY) ?? 'null') as Partial<Remembered> | null;
    return v && typeof v.streamId === 'string' && typeof v.deviceName === 'string' ? { streamId: v.streamId, deviceName: v.deviceName } : null;
  } catch {
    return null;
  }
}

function remember(v: Remembered): void {
  try {
    localStorage.setItem(REMEMBER_KEY, JSON.stringify(v));
  } catch {
    /* private mode: a new stream next time */
  }
}

/** The stream this browser published last time (when it still exists), else a new one. */
async function streamFor(deviceName: string, deviceType: string, resolution: string, fps: number): Promise<string> {
  const last = loadRemembered();
  if (last) {
    try {
      const s = await api.getStream(last.streamId);
      if (s.deviceName !== deviceName) await api.updateStream(s.id, { deviceName });
      remember({ streamId: s.id, deviceName });
      return s.id;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
    }
  }
  const r = await api.registerStream({ deviceName, deviceType, metadata: { resolution, fps } });
  remember({ streamId: r.streamId, deviceName });
  return r.streamId;
}

function cameraError(e: unknown): string {
  const name = e instanceof DOMException ? e.name : '';
  if (name === 'NotAllowedError') return 'Camera access was refused. Allow the camera for this site in the browser settings, then try again.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No camera matches (try the other camera).';
  if (name === 'NotReadableError') return 'The camera is in use by another app.';
  if (name === 'NotSupportedError') return 'This browser cannot give the page a camera. Open it in a current browser (Chrome, Safari, Firefox).';
  return errorMessage(e);
}

function SecureContextNotice() {
  return (
    <div role="alert" className="flex gap-3 rounded-md border border-amber-800/60 bg-amber-950/40 p-3 text-sm text-amber-100">
      <ShieldAlert aria-hidden="true" className="mt-0.5 h-5 w-5 shrink-0" />
      <div className="space-y-1">
        <p className="font-semibold">The camera needs a secure connection.</p>
        <p>
          Browsers give pages the camera only over <strong>HTTPS</strong> (or on <code>http://localhost</code>). This page was opened over plain
          HTTP from another address, so the camera is unavailable here.
        </p>
        <p>
          Serve Beholder over HTTPS (for example behind a reverse proxy such as Caddy or nginx with a certificate, see the operations docs) and
          open <code>https://…/publish</code> on the phone.
        </p>
      </div>
    </div>
  );
}

export default function PublishPage() {
  const guess = useMemo(() => guessDevice(typeof navigator === 'undefined' ? '' : navigator.userAgent), []);
  const secure = typeof window === 'undefined' || window.isSecureContext;
  const [deviceName, setDeviceName] = useState(() => loadRemembered()?.deviceName ?? guess.deviceName);
  const [facing, setFacing] = useState<'user' | 'environment'>('environment');
  const [fps, setFps] = useState(5);
  const [width, setWidth] = useState<number>(640);
  const [streamId, setStreamId] = useState<string | null>(null);
  const [media, setMedia] = useState<MediaStream | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [alerts, setAlerts] = useState<StreamAlertItem[]>([]);
  const [stats, setStats] = useState({ sent: 0, fps: 0, bytes: 0, skipped: 0 });
  const videoRef = useRef<HTMLVideoElement>(null);
  const publisherRef = useRef<Publisher | null>(null);

  const join = useMemo<RelayJoin | null>(
    () => (streamId ? { type: 'register', clientType: 'mobile', streamId, produces: ['video'], consumes: ['alerts'] } : null),
    [streamId],
  );
  const { client, snap } = useRelay(join);

  const openCamera = useCallback(async (mode: 'user' | 'environment', w: number) => {
    // No camera API (old browser, some in-app views): say so, not "cannot reach the server".
    if (!navigator.mediaDevices?.getUserMedia) throw new DOMException('No getUserMedia', 'NotSupportedError');
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: mode }, width: { ideal: w } }, audio: false });
    setMedia((old) => {
      old?.getTracks().forEach((t) => t.stop());
      return stream;
    });
    return stream;
  }, []);

  const start = async () => {
    setError(null);
    setBusy(true);
    try {
      const name = deviceName.trim().slice(0, 128) || guess.deviceName;
      setDeviceName(name);
      const cam = await openCamera(facing, width).catch((e: unknown) => {
        throw new Error(cameraError(e));
      });
      const settings = cam.getVideoTracks()[0]?.getSettings();
      const resolution = settings?.width && settings.height ? `${settings.width}x${settings.height}` : `${width}x${Math.round((width * 3) / 4)}`;
      setStreamId(await streamFor(name, guess.deviceType, resolution, fps));
    } catch (e) {
      setError(e instanceof Error && !(e instanceof ApiError) ? e.message : errorMessage(e));
      setMedia((old) => {
        old?.getTracks().forEach((t) => t.stop());
        return null;
      });
    } finally {
      setBusy(false);
    }
  };

  const stop = useCallback(() => {
    setStreamId(null);
    setMedia((old) => {
      old?.getTracks().forEach((t) => t.stop());
      return null;
    });
  }, []);

  // The stream was deleted elsewhere: camera off, say so; Start registers a new stream.
  useEffect(() => {
    if (snap.state === 'closed' && snap.closedReason === 'deleted') {
      setError(`${snap.message ?? 'This stream was deleted.'} Start again to publish as a new stream.`);
      stop();
    }
  }, [snap.state, snap.closedReason, snap.message, stop]);

  // Camera on unmount: off.
  useEffect(() => () => media?.getTracks().forEach((t) => t.stop()), [media]);

  useEffect(() => {
    const v = videoRef.current;
    if (!v) return;
    v.srcObject = media;
    if (media) void v.play().catch(() => undefined);
  }, [media]);

  // The producer loop: runs while there is a relay client and a camera.
  useEffect(() => {
    const v = videoRef.current;
    if (!client || !streamId || !media || !v) return;
    const p = new Publisher({ client, streamId, grab: canvasGrabber(v), fps, width });
    publisherRef.current = p;
    p.start();
    const t = setInterval(
      () => setStats({ sent: p.stats.sent, fps: p.stats.fps, bytes: p.stats.lastFrameBytes, skipped: client.counters.framesSkipped }),
      500,
    );
    return () => {
      clearInterval(t);
      p.stop();
      publisherRef.current = null;
    };
    // fps and width are applied below without a new loop.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, streamId, media]);
  useEffect(() => publisherRef.current?.setFps(fps), [fps]);
  useEffect(() => publisherRef.current?.setWidth(width), [width]);

  useEffect(() => {
    if (!client) return;
    setAlerts([]);
    return client.onMessage((m) => {
      if (m.type === 'alert') setAlerts((list) => mergeAlerts(list, [fromRelayAlert(m)]));
    });
  }, [client]);

  // Keep the phone's screen on while publishing (where supported).
  useEffect(() => {
    if (!streamId || !('wakeLock' in navigator)) return;
    let lock: WakeLockSentinel | null = null;
    let cancelled = false;
    const take = () => {
      if (document.hidden) return;
      void navigator.wakeLock
        .request('screen')
        .then((l) => {
          if (cancelled) void l.release();
          else lock = l;
        })
        .catch(() => undefined);
    };
    take();
    document.addEventListener('visibilitychange', take);
    return () => {
      cancelled = true;
      document.removeEventListener('visibilitychange', take);
      void lock?.release();
    };
  }, [streamId]);

  const switchCamera = async (mode: 'user' | 'environment') => {
    setFacing(mode);
    if (!media) return;
    try {
      await openCamera(mode, width);
    } catch (e) {
      setError(cameraError(e));
    }
  };

  const publishing = streamId !== null;
  return (
    <div className="mx-auto flex min-h-dvh max-w-3xl flex-col gap-3 p-3 sm:p-4">
      <header className="flex items-center gap-2">
        <Camera aria-hidden="true" className="h-5 w-5 text-cyan-300" />
        <h1 className="mr-auto text-lg font-semibold">Publish this camera</h1>
        <Link to="/" className="inline-flex items-center gap-1 rounded-md px-2 py-1.5 text-sm text-slate-300 hover:bg-slate-800">
          <LayoutGrid aria-hidden="true" className="h-4 w-4" /> Dashboard
        </Link>
      </header>

      {!secure && <SecureContextNotice />}

      <form
        className="grid gap-3 rounded-lg border border-slate-800 p-3 sm:grid-cols-2"
        aria-label="Stream settings"
        onSubmit={(e) => {
          e.preventDefault();
          if (!publishing) void start();
        }}
      >
        <label className="flex flex-col gap-1 text-xs text-slate-400 sm:col-span-2">
          Device name
          <input className={field} value={deviceName} maxLength={128} required disabled={publishing} onChange={(e) => setDeviceName(e.target.value)} />
        </label>
        <label className="flex flex-col gap-1 text-xs text-slate-400">
          Camera
          <select className={field} value={facing} onChange={(e) => void switchCamera(e.target.value as 'user' | 'environment')}>
            <option value="environment">Back camera</option>
            <option value="user">Front camera</option>
          </select>
        </label>
        <label className="flex flex-col gap-1 text-xs text-slate-400">
          Width
          <select className={field} value={width} onChange={(e) => setWidth(Number(e.target.value))}>
            {WIDTHS.map((w) => (
              <option key={w} value={w}>
                {w} px
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-1 text-xs text-slate-400 sm:col-span-2">
          Frames per second: <span className="text-sm text-slate-100">{fps}</span>
          <input type="range" min={1} max={30} step={1} value={fps} aria-label="Frames per second" onChange={(e) => setFps(Number(e.target.value))} />
        </label>
        <div className="flex gap-2 sm:col-span-2">
          {/* Two elements (keys), not one whose type flips: a click on Stop must not end up
              submitting the form once the same button has turned into the submit button. */}
          {publishing ? (
            <Button key="stop" variant="danger" onClick={stop}>
              <CircleStop aria-hidden="true" className="h-4 w-4" /> Stop
            </Button>
          ) : (
            <Button key="start" type="submit" variant="primary" disabled={busy || !secure}>
              <Camera aria-hidden="true" className="h-4 w-4" /> {busy ? 'Starting…' : 'Start streaming'}
            </Button>
          )}
        </div>
      </form>

      {error && <ErrorState message={error} />}

      <section aria-label="Live" className="space-y-2 rounded-lg border border-slate-800 p-3">
        <div className="flex flex-wrap items-center gap-2 text-sm">
          <RelayStateBadge state={snap.state} />
          {publishing && (
            <>
              <span>
                Frames sent: <strong data-testid="frames-sent">{stats.sent}</strong>
              </span>
              <span>{stats.fps.toFixed(1)} fps</span>
              <span className="text-slate-400">{formatBytes(stats.bytes)} / frame</span>
              {stats.skipped > 0 && <span className="text-slate-400">{stats.skipped} skipped (slow network)</span>}
            </>
          )}
        </div>
        {snap.message && snap.state !== 'ready' && <p className="text-sm text-amber-200">{snap.message}</p>}
        {snap.state === 'closed' && snap.closedReason === 'replaced' && (
          <Button onClick={() => client?.start()}>Take the stream back</Button>
        )}
        <video ref={videoRef} muted playsInline autoPlay className="aspect-video w-full rounded-md bg-black object-contain" aria-label="Camera preview" />
        {streamId && <p className="break-all text-xs text-slate-500">Stream {streamId}</p>}
      </section>

      <StreamAlertList alerts={alerts} empty={publishing ? 'No alerts yet. They appear here as they arrive.' : 'Start streaming to receive alerts.'} />
    </div>
  );
}
