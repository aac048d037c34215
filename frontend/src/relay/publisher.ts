/**
 * The producer loop of the /publish page: every 1/fps s take the camera's current picture,
 * scale it to `width` (never up), encode it as JPEG (canvas → toBlob) and send it as a
 * binary relay frame. At most one encode in flight (a slow phone sends fewer frames, it does
 * not queue them); nothing is captured while the page is hidden or the relay is not ready.
 */
import type { RelayClient } from './client';
import { encodeFrame } from './frame';

export interface PublisherOptions {
  client: Pick<RelayClient, 'ready' | 'sendFrame'>;
  streamId: string;
  /** One JPEG of the current picture at (at most) `width` px wide, or null when none yet. */
  grab: (width: number) => Promise<Uint8Array | null>;
  fps: number;
  width: number;
  isHidden?: () => boolean;
  now?: () => number;
  setTimer?: (cb: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export interface PublisherStats {
  /** Frames handed to the socket. */
  sent: number;
  /** Measured over the last few seconds. */
  fps: number;
  lastFrameBytes: number;
}

export class Publisher {
  private readonly o: Required<PublisherOptions>;
  private timer: unknown = null;
  private running = false;
  private inflight = false;
  private sentTimes: number[] = [];
  readonly stats: PublisherStats = { sent: 0, fps: 0, lastFrameBytes: 0 };

  constructor(opts: PublisherOptions) {
    this.o = {
      isHidden: () => typeof document !== 'undefined' && document.hidden,
      now: () => Date.now(),
      setTimer: (cb, ms) => setTimeout(cb, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      ...opts,
    };
  }

  /** 1…30 frames per second. */
  setFps(fps: number): void {
    this.o.fps = Math.min(30, Math.max(1, Math.round(fps)));
  }

  setWidth(width: number): void {
    this.o.width = width;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.o.clearTimer(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.o.setTimer(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    const period = 1000 / this.o.fps;
    const started = this.o.now();
    if (!this.o.isHidden() && this.o.client.ready && !this.inflight) {
      this.inflight = true;
      try {
        const jpeg = await this.o.grab(this.o.width);
        if (jpeg && this.running && this.o.client.sendFrame(encodeFrame(this.o.streamId, Date.now(), jpeg)) === 'sent') {
          this.stats.sent++;
          this.stats.lastFrameBytes = jpeg.byteLength;
          const t = this.o.now();
          this.sentTimes.push(t);
          while (this.sentTimes.length && this.sentTimes[0]! < t - 3000) this.sentTimes.shift();
        }
      } catch {
        /* a frame that could not be taken: try the next one */
      } finally {
        this.inflight = false;
      }
    }
    const t = this.o.now();
    while (this.sentTimes.length && this.sentTimes[0]! < t - 3000) this.sentTimes.shift();
    this.stats.fps = this.sentTimes.length / 3;
    this.schedule(Math.max(0, period - (t - started)));
  }
}

/** A `grab` for `Publisher` that reads a playing <video> through one reused canvas. */
export function canvasGrabber(video: HTMLVideoElement, quality = 0.7): (width: number) => Promise<Uint8Array | null> {
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d');
  return async (width) => {
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    if (!ctx || !vw || !vh) return null;
    const w = Math.min(width, vw);
    const h = Math.max(2, Math.round((vh * w) / vw / 2) * 2);
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    ctx.drawImage(video, 0, 0, w, h);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
    return blob ? new Uint8Array(await blob.arrayBuffer()) : null;
  };
}
