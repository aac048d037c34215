/**
 * Live video of one camera: WHEP (WebRTC) first, MJPEG when WebRTC cannot be negotiated.
 *
 * - `hidden` only hides the <video> element: the peer connection keeps running, so showing
 *   it again is instant and needs no new negotiation.
 * - out of view (`inView` false): the track is disabled and the element paused, so the tile
 *   does not decode or paint; the peer connection stays up (MJPEG is simply not fetched).
 * - the session is opened when the camera is PROCESSING, kept through CONNECTING/ERROR
 *   (the server may keep its viewers across a camera reconnect), re-made when it stalls.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { paths } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/http';
import type { CameraStatus } from '../api/types';
import { playMjpeg } from '../media/mjpeg';
import { WhepSession, whepSupported, type ViewQuality } from '../media/whep';
import { cx } from './ui';

export type PlayState = 'idle' | 'connecting' | 'playing' | 'stalled';

export interface LiveViewProps {
  cameraId: string;
  cameraName: string;
  status: CameraStatus;
  hidden?: boolean;
  inView?: boolean;
  className?: string;
  /** The camera's own frame rate (from its stats), to judge the delivered one against. */
  expectedFps?: number | null;
  onQuality?: (q: ViewQuality | null) => void;
  /** reason: why live view is not playing (or why it fell back to MJPEG), user-safe. */
  onPlayState?: (s: PlayState, mode: 'whep' | 'mjpeg', reason: string | null) => void;
}

const KEEP: ReadonlySet<CameraStatus> = new Set(['PROCESSING', 'CONNECTING', 'STARTING', 'ERROR']);

export function LiveView({ cameraId, cameraName, status, hidden = false, inView = true, className, expectedFps, onQuality, onPlayState }: LiveViewProps) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const imgRef = useRef<HTMLImageElement>(null);
  const sessionRef = useRef<WhepSession | null>(null);
  const failuresRef = useRef(0);
  const expectedFpsRef = useRef(expectedFps);
  expectedFpsRef.current = expectedFps;
  const onQualityRef = useRef(onQuality);
  onQualityRef.current = onQuality;
  const [mode, setMode] = useState<'whep' | 'mjpeg'>(whepSupported() ? 'whep' : 'mjpeg');
  const [epoch, setEpoch] = useState(0);
  const [playState, setPlayState] = useState<PlayState>('idle');
  const [reason, setReason] = useState<string | null>(whepSupported() ? null : 'This browser does not support WebRTC.');
  const keep = KEEP.has(status);
  const producing = status === 'PROCESSING';
  const visible = inView && !hidden;

  useEffect(() => onPlayState?.(playState, mode, reason), [playState, mode, reason, onPlayState]);

  const closeSession = useCallback(() => {
    const s = sessionRef.current;
    sessionRef.current = null;
    if (s) {
      s.close();
      // The figures of a session that ended (a stall, a worker that died) must not stand
      // for the next one: "Unusable" stayed on a recovered tile until its first poll.
      onQualityRef.current?.(null);
    }
    const v = videoRef.current;
    if (v) v.srcObject = null;
    setPlayState('idle');
  }, []);

  const fail = useCallback(
    (s: WhepSession, err: unknown) => {
      if (sessionRef.current !== s) return;
      closeSession();
      failuresRef.current += 1;
      const n = failuresRef.current;
      const transient = err instanceof ApiError && (err.status === 0 || err.status === 409 || err.status === 429 || err.status >= 500);
      if (transient) setReason(errorMessage(err));
      // The camera reports PROCESSING as soon as its stream opens; the worker takes viewers
      // from the first keyframe (up to a GOP later) and says STREAM_UNAVAILABLE until then:
      // retry that soon (0.3, 0.6, 1.2, 2.4, 4.8 s), anything else transient after 1, 2, 4 s.
      const notYet = err instanceof ApiError && err.status === 503 && err.code === 'STREAM_UNAVAILABLE';
      if (transient && n < (notYet ? 6 : 4)) {
        setTimeout(() => setEpoch((e) => e + 1), (notYet ? 300 : 1000) * 2 ** (n - 1));
        return;
      }
      setReason(`WebRTC unavailable (${errorMessage(err)}); showing MJPEG.`);
      setMode('mjpeg');
    },
    [closeSession],
  );

  // Tear down on camera change, on mode change, on a forced retry, and on unmount.
  useEffect(() => closeSession, [cameraId, mode, epoch, closeSession]);
  // Camera stopped: hang up.
  useEffect(() => {
    if (!keep) closeSession();
  }, [keep, closeSession]);

  // Open a WHEP session once the camera produces.
  useEffect(() => {
    if (mode !== 'whep' || !producing || sessionRef.current) return;
    const s = new WhepSession(cameraId, {
      onStream: (stream) => {
        const v = videoRef.current;
        if (v && v.srcObject !== stream) {
          v.srcObject = stream;
          void v.play().catch(() => undefined);
        }
      },
      onState: (st) => {
        if (st === 'playing') {
          failuresRef.current = 0;
          setPlayState('playing');
          setReason(null);
        } else if (st === 'failed') fail(s, new Error('the peer connection failed'));
      },
    });
    sessionRef.current = s;
    setPlayState('connecting');
    s.start().catch((e: unknown) => fail(s, e));
  }, [cameraId, mode, producing, epoch, fail]);

  // Out of view: stop decoding without touching the peer connection.
  useEffect(() => {
    const s = sessionRef.current;
    const v = videoRef.current;
    if (!s || !v) return;
    s.setReceiving(inView);
    if (inView) void v.play().catch(() => undefined);
    else v.pause();
  }, [inView, playState]);

  // Quality and stall detection (every 2 s while a session exists and is receiving).
  useEffect(() => {
    if (mode !== 'whep' || playState === 'idle') return;
    let lastFrames = -1;
    let still = 0;
    const id = setInterval(() => {
      const s = sessionRef.current;
      if (!s) return;
      void s.quality(expectedFpsRef.current).then((q) => {
        onQuality?.(q);
        if (!q || !inView) return;
        if (q.framesDecoded === lastFrames) still++;
        else still = 0;
        lastFrames = q.framesDecoded;
        if (still >= 3 && producing) {
          // Nothing decoded for ~6 s while the camera says it produces: new session.
          setPlayState('stalled');
          setEpoch((e) => e + 1);
        }
      });
    }, 2000);
    return () => clearInterval(id);
  }, [mode, playState, inView, producing, onQuality]);

  // MJPEG fallback: fetched only while visible and the camera produces.
  useEffect(() => {
    if (mode !== 'mjpeg' || !producing || !visible) return;
    const ac = new AbortController();
    let url: string | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let failures = 0;
    const run = () => {
      setPlayState('connecting');
      playMjpeg(
        paths.cameraMjpeg(cameraId),
        (blob) => {
          const next = URL.createObjectURL(blob);
          if (imgRef.current) imgRef.current.src = next;
          if (url) URL.revokeObjectURL(url);
          url = next;
          failures = 0;
          setPlayState('playing');
        },
        ac.signal,
      )
        .then(() => {
          if (!ac.signal.aborted) timer = setTimeout(run, 2000);
        })
        .catch((e: unknown) => {
          if (ac.signal.aborted) return;
          setReason(errorMessage(e));
          setPlayState('stalled');
          failures++;
          if (failures >= 2 && whepSupported()) {
            // Neither works yet (e.g. the camera is not producing): start over with WebRTC.
            timer = setTimeout(() => {
              failuresRef.current = 0;
              setMode('whep');
            }, 3000);
          } else timer = setTimeout(run, 3000);
        });
    };
    run();
    return () => {
      ac.abort();
      if (timer) clearTimeout(timer);
      if (url) URL.revokeObjectURL(url);
      setPlayState('idle');
    };
  }, [mode, producing, visible, cameraId]);

  return (
    <div className={cx('relative h-full w-full', className)} data-mode={mode} data-play-state={playState}>
      {mode === 'whep' ? (
        <video
          ref={videoRef}
          muted
          playsInline
          autoPlay
          aria-label={`Live video of ${cameraName}`}
          className={cx('h-full w-full bg-black object-contain', hidden && 'invisible')}
        />
      ) : (
        <img ref={imgRef} alt={`Live video of ${cameraName} (MJPEG)`} className={cx('h-full w-full bg-black object-contain', (hidden || playState !== 'playing') && 'invisible')} />
      )}
      {mode === 'mjpeg' && whepSupported() && (
        <button
          type="button"
          title={reason ?? undefined}
          onClick={() => {
            failuresRef.current = 0;
            setReason(null);
            setMode('whep');
          }}
          className="absolute left-2 top-2 rounded bg-black/70 px-1.5 py-0.5 text-[11px] text-amber-300 hover:bg-black"
        >
          MJPEG · try WebRTC
        </button>
      )}
    </div>
  );
}
