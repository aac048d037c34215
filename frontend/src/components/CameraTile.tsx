import { AlertTriangle, Eye, EyeOff, Loader2, MapPin, Play, ScanFace, VideoOff } from 'lucide-react';
import { memo, useCallback, useRef, useState } from 'react';
import type { Camera } from '../api/types';
import { usePermissions } from '../auth/auth';
import { useCameraActions, useCameraView } from '../lib/cameras';
import { num } from '../lib/format';
import { setPrefs, usePrefs, getPrefs } from '../lib/prefs';
import { useInView } from '../lib/useInView';
import type { ViewQuality } from '../media/whep';
import { QualityBadge, StatusBadge } from './CameraStatus';
import { LiveView, type PlayState } from './LiveView';
import { Button, Switch, cx } from './ui';

export const CameraTile = memo(function CameraTile({ camera, onOpen }: { camera: Camera; onOpen?: (c: Camera) => void }) {
  const view = useCameraView(camera);
  const perms = usePermissions();
  const actions = useCameraActions();
  const prefs = usePrefs();
  const hidden = !!prefs.hiddenVideo[camera.id];
  const ref = useRef<HTMLElement>(null);
  const inView = useInView(ref);
  const [quality, setQuality] = useState<ViewQuality | null>(null);
  const [play, setPlay] = useState<{ state: PlayState; mode: 'whep' | 'mjpeg'; reason: string | null }>({ state: 'idle', mode: 'whep', reason: null });
  const onPlayState = useCallback((state: PlayState, mode: 'whep' | 'mjpeg', reason: string | null) => setPlay({ state, mode, reason }), []);
  const titleId = `cam-${camera.id}-name`;

  const toggleHidden = () => {
    const h = { ...getPrefs().hiddenVideo };
    if (h[camera.id]) delete h[camera.id];
    else h[camera.id] = true;
    setPrefs({ hiddenVideo: h });
  };

  const qualityLabel = play.state === 'playing' && quality ? quality.label : view.stats?.connectionQuality;
  const qualityDetail = quality?.fps != null ? `${num(quality.fps, 0)} fps${quality.lossPct != null ? `, ${num(quality.lossPct)} % loss` : ''}` : undefined;

  let overlay: React.ReactNode = null;
  if (view.status === 'ERROR') {
    overlay = (
      <div role="alert" className="flex max-w-[90%] flex-col items-center gap-1 text-center text-sm text-red-200">
        <AlertTriangle aria-hidden="true" className="h-6 w-6 text-red-400" />
        <span>{view.detail || 'The camera stream failed.'}</span>
        <span className="text-xs text-red-300/80">Retrying{view.attempt ? ` (attempt ${view.attempt})` : ''}…</span>
      </div>
    );
  } else if (view.status === 'STARTING' || view.status === 'CONNECTING') {
    overlay = (
      <div className="flex flex-col items-center gap-1 text-sm text-slate-300">
        <Loader2 aria-hidden="true" className="h-6 w-6 animate-spin" />
        <span>{view.status === 'STARTING' ? 'Starting…' : `Reconnecting${view.attempt ? ` (attempt ${view.attempt})` : ''}…`}</span>
        {view.detail && <span className="text-xs text-slate-400">{view.detail}</span>}
      </div>
    );
  } else if (view.status === 'PROCESSING' && hidden) {
    overlay = (
      <div className="flex flex-col items-center gap-2 text-sm text-slate-400">
        <EyeOff aria-hidden="true" className="h-6 w-6" />
        <span>Video hidden</span>
      </div>
    );
  } else if (view.status === 'PROCESSING' && play.state !== 'playing') {
    overlay = (
      <div className="flex max-w-[90%] flex-col items-center gap-1 text-center text-sm text-slate-300">
        <Loader2 aria-hidden="true" className="h-6 w-6 animate-spin" />
        <span>{play.reason ? `Live view not available yet: ${play.reason}` : 'Starting live view…'}</span>
      </div>
    );
  } else if (view.status !== 'PROCESSING') {
    overlay = (
      <div className="flex flex-col items-center gap-2 text-sm text-slate-400">
        <VideoOff aria-hidden="true" className="h-6 w-6" />
        <span>{view.status === 'STOPPING' ? 'Stopping…' : 'Camera stopped'}</span>
        {perms.control && view.status !== 'STOPPING' && (
          <Button variant="secondary" onClick={() => actions.command(camera, 'start')} aria-label={`Start ${camera.name}`}>
            <Play aria-hidden="true" className="h-4 w-4" /> Start
          </Button>
        )}
      </div>
    );
  }

  return (
    <article
      ref={ref}
      aria-labelledby={titleId}
      data-camera-id={camera.id}
      data-testid="camera-tile"
      className="flex min-w-0 flex-col overflow-hidden rounded-lg border border-slate-800 bg-slate-900"
    >
      <div className="relative aspect-video bg-black">
        <LiveView
          cameraId={camera.id}
          cameraName={camera.name}
          status={view.status}
          hidden={hidden}
          inView={inView}
          expectedFps={view.stats?.expectedFps}
          onQuality={setQuality}
          onPlayState={onPlayState}
        />
        {overlay && <div className="absolute inset-0 flex items-center justify-center bg-black/40 p-3">{overlay}</div>}
      </div>
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1 px-3 py-2">
        <div className="min-w-0 flex-1">
          <h3 id={titleId} className="truncate text-sm font-semibold">
            {onOpen ? (
              <button type="button" className="truncate hover:underline focus-visible:outline-2 focus-visible:outline-cyan-400" onClick={() => onOpen(camera)}>
                {camera.name}
              </button>
            ) : (
              camera.name
            )}
          </h3>
          <div className="flex flex-wrap items-center gap-x-3 gap-y-0.5">
            <StatusBadge status={view.status} attempt={view.attempt} detail={view.detail} />
            {camera.location && (
              <span className="inline-flex min-w-0 items-center gap-1 truncate text-xs text-slate-400">
                <MapPin aria-hidden="true" className="h-3.5 w-3.5 shrink-0" />
                <span className="sr-only">Location: </span>
                {camera.location}
              </span>
            )}
            {view.status === 'PROCESSING' && <QualityBadge quality={qualityLabel} {...(qualityDetail ? { detail: qualityDetail } : {})} />}
          </div>
        </div>
        <div className="flex items-center gap-1">
          <Button
            variant="icon"
            aria-pressed={hidden}
            aria-label={hidden ? `Show video of ${camera.name}` : `Hide video of ${camera.name}`}
            title={hidden ? 'Show video' : 'Hide video'}
            onClick={toggleHidden}
          >
            {hidden ? <Eye aria-hidden="true" className="h-4 w-4" /> : <EyeOff aria-hidden="true" className="h-4 w-4" />}
          </Button>
          {perms.control ? (
            <span className="inline-flex items-center gap-1.5" title="Face detection">
              <ScanFace aria-hidden="true" className={cx('h-4 w-4', camera.faceDetectionEnabled ? 'text-cyan-400' : 'text-slate-500')} />
              <Switch
                checked={camera.faceDetectionEnabled}
                label={`Face detection for ${camera.name}`}
                onChange={(v) => actions.setFaceDetection(camera, v)}
              />
            </span>
          ) : (
            <span className="inline-flex items-center" title={`Face detection ${camera.faceDetectionEnabled ? 'on' : 'off'}`}>
              <ScanFace aria-label={`Face detection ${camera.faceDetectionEnabled ? 'on' : 'off'}`} className={cx('h-4 w-4', camera.faceDetectionEnabled ? 'text-cyan-400' : 'text-slate-600')} />
            </span>
          )}
        </div>
      </div>
    </article>
  );
});
