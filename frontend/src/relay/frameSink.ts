/**
 * Draws the latest relay frame on a canvas. Frames are decoded off the main thread with
 * `createImageBitmap`; one decode at a time, and a frame that arrives meanwhile replaces the
 * waiting one (latest wins), so a slow tab shows fewer frames instead of falling behind.
 */
export interface FrameSinkStats {
  /** Frames drawn so far. */
  drawn: number;
  /** Frames replaced by a newer one before they were drawn. */
  skipped: number;
  /** Drawn per second over the last 2 s. */
  fps: number;
  width: number;
  height: number;
}

export class FrameSink {
  private waiting: Uint8Array | null = null;
  private decoding = false;
  private closed = false;
  private drawnAt: number[] = [];
  readonly stats: FrameSinkStats = { drawn: 0, skipped: 0, fps: 0, width: 0, height: 0 };

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(jpeg: Uint8Array): void {
    if (this.closed) return;
    if (this.waiting) this.stats.skipped++;
    this.waiting = jpeg;
    if (!this.decoding) void this.drain();
  }

  close(): void {
    this.closed = true;
    this.waiting = null;
  }

  /** fps over the last 2 s (also ages out when frames stop). */
  refresh(): FrameSinkStats {
    const t = this.now();
    while (this.drawnAt.length && this.drawnAt[0]! < t - 2000) this.drawnAt.shift();
    this.stats.fps = this.drawnAt.length / 2;
    return this.stats;
  }

  private async drain(): Promise<void> {
    this.decoding = true;
    try {
      while (this.waiting && !this.closed) {
        const jpeg = this.waiting;
        this.waiting = null;
        let bmp: ImageBitmap;
        try {
          bmp = await createImageBitmap(new Blob([jpeg as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }));
        } catch {
          continue; // a frame the browser cannot decode: wait for the next
        }
        if (this.closed) {
          bmp.close();
          break;
        }
        const c = this.canvas;
        if (c.width !== bmp.width) c.width = bmp.width;
        if (c.height !== bmp.height) c.height = bmp.height;
        c.getContext('2d')?.drawImage(bmp, 0, 0);
        this.stats.width = bmp.width;
        this.stats.height = bmp.height;
        bmp.close();
        this.stats.drawn++;
        this.drawnAt.push(this.now());
      }
    } finally {
      this.decoding = false;
    }
  }
}
