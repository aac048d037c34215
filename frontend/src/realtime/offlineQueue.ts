/**
 * User actions (start/stop, toggles, acknowledge…) made while the server cannot be reached
 * are kept here and sent when the connection is back, in order. Actions with the same key
 * replace each other (the last intent wins: stop-then-start while offline sends only start).
 */
export interface QueuedAction {
  key: string;
  label: string;
  queuedAt: number;
}

interface Entry<T = unknown> extends QueuedAction {
  run: () => Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export class SupersededError extends Error {
  constructor(label: string) {
    super(`“${label}” was replaced by a newer action.`);
    this.name = 'SupersededError';
  }
}

export interface OfflineQueueOptions {
  isOnline?: () => boolean;
  /** Is this failure "could not reach the server" (queue and retry) rather than a refusal? */
  isNetworkError?: (e: unknown) => boolean;
  maxSize?: number;
  now?: () => number;
}

export class OfflineQueue {
  private entries: Entry[] = [];
  private snapshot: readonly QueuedAction[] = [];
  private readonly listeners = new Set<() => void>();
  private flushing = false;
  private readonly isOnline: () => boolean;
  private readonly isNetworkError: (e: unknown) => boolean;
  private readonly maxSize: number;
  private readonly now: () => number;

  constructor(opts: OfflineQueueOptions = {}) {
    this.isOnline = opts.isOnline ?? (() => (typeof navigator === 'undefined' ? true : navigator.onLine !== false));
    this.isNetworkError = opts.isNetworkError ?? ((e) => e instanceof TypeError || (e as { status?: unknown })?.status === 0);
    this.maxSize = opts.maxSize ?? 50;
    this.now = opts.now ?? (() => Date.now());
  }

  getSnapshot = (): readonly QueuedAction[] => this.snapshot;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  /**
   * Run `fn` now, or queue it when offline / when it fails to reach the server.
   * The promise settles when the action finally ran (or was superseded / dropped).
   */
  run<T>(key: string, label: string, fn: () => Promise<T>, onQueued?: () => void): Promise<T> {
    if (this.isOnline() && !this.entries.length) {
      return fn().catch((e: unknown) => {
        if (!this.isNetworkError(e)) throw e;
        onQueued?.();
        return this.enqueue(key, label, fn);
      });
    }
    onQueued?.();
    return this.enqueue(key, label, fn);
  }

  private enqueue<T>(key: string, label: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const old = this.entries.find((e) => e.key === key);
      if (old) {
        this.entries = this.entries.filter((e) => e !== old);
        old.reject(new SupersededError(old.label));
      }
      this.entries.push({ key, label, queuedAt: this.now(), run: fn, resolve: resolve as (v: unknown) => void, reject });
      while (this.entries.length > this.maxSize) this.entries.shift()?.reject(new Error('Too many actions waiting for the connection.'));
      this.changed();
    });
  }

  /** Send what is waiting, oldest first; stops at the first network failure. */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.entries.length) {
        const e = this.entries[0]!;
        let result: unknown;
        try {
          result = await e.run();
        } catch (err) {
          if (this.isNetworkError(err)) return;
          this.entries.shift();
          this.changed();
          e.reject(err);
          continue;
        }
        this.entries.shift();
        this.changed();
        e.resolve(result);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Drop everything (sign-out). */
  clear(): void {
    const old = this.entries;
    this.entries = [];
    this.changed();
    for (const e of old) e.reject(new SupersededError(e.label));
  }

  private changed(): void {
    this.snapshot = this.entries.map(({ key, label, queuedAt }) => ({ key, label, queuedAt }));
    for (const l of this.listeners) l();
  }
}
