/**
 * Access/refresh token keeping: persisted in localStorage (shared by the tabs of one
 * browser), refreshed in the background before the access token expires, with a single
 * refresh in flight per tab and a Web Lock across tabs (refresh tokens may rotate).
 */
import type { TokenPair } from '../api/types';

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
}

type Listener = () => void;
export type RefreshResult = 'ok' | 'signed-out' | 'unreachable';

const STORAGE_KEY = 'beholder.session';

export interface TokenStoreOptions {
  storage?: Storage | null;
  fetchImpl?: typeof fetch;
  now?: () => number;
  refreshUrl?: string;
}

export class TokenStore {
  private session: Session | null = null;
  private readonly listeners = new Set<Listener>();
  private inflight: Promise<RefreshResult> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly storage: Storage | null;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly refreshUrl: string;

  constructor(opts: TokenStoreOptions = {}) {
    this.storage = opts.storage === undefined ? safeLocalStorage() : opts.storage;
    this.fetchImpl = opts.fetchImpl ?? ((...a) => fetch(...a));
    this.now = opts.now ?? Date.now;
    this.refreshUrl = opts.refreshUrl ?? '/api/auth/refresh';
    this.session = this.read();
    if (typeof window !== 'undefined') {
      window.addEventListener('storage', (e) => {
        if (e.key === STORAGE_KEY) {
          this.session = this.read();
          this.schedule();
          this.emit();
        }
      });
    }
    this.schedule();
  }

  get(): Session | null {
    return this.session;
  }

  get accessToken(): string | null {
    return this.session?.accessToken ?? null;
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  set(pair: TokenPair): void {
    this.session = {
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      expiresAt: this.now() + Math.max(1, pair.expiresIn) * 1000,
    };
    this.write();
    this.schedule();
    this.emit();
  }

  clear(): void {
    if (!this.session) return;
    this.session = null;
    this.write();
    this.schedule();
    this.emit();
  }

  /** Access token valid for at least `marginMs`, refreshing first when needed. */
  async fresh(marginMs = 15_000): Promise<string | null> {
    const s = this.session;
    if (!s) return null;
    if (s.expiresAt - this.now() > marginMs) return s.accessToken;
    await this.refresh();
    return this.session?.accessToken ?? null;
  }

  /** Refresh now (single flight). 'unreachable' keeps the session for a later try. */
  refresh(): Promise<RefreshResult> {
    if (!this.inflight) {
      this.inflight = this.withLock(() => this.doRefresh()).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async doRefresh(): Promise<RefreshResult> {
    // Another tab may have refreshed while we waited for the lock.
    const stored = this.read();
    if (stored && this.session && stored.refreshToken !== this.session.refreshToken) {
      this.session = stored;
      this.schedule();
      this.emit();
      if (stored.expiresAt - this.now() > 15_000) return 'ok';
    }
    const s = this.session;
    if (!s) return 'signed-out';
    let res: Response;
    try {
      res = await this.fetchImpl(this.refreshUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ refreshToken: s.refreshToken }),
      });
    } catch {
      this.schedule(5_000);
      return 'unreachable';
    }
    if (res.ok) {
      try {
        this.set((await res.json()) as TokenPair);
        return 'ok';
      } catch {
        this.schedule(5_000);
        return 'unreachable';
      }
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      this.clear();
      return 'signed-out';
    }
    this.schedule(5_000);
    return 'unreachable';
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    if (locks?.request) return locks.request('beholder-token-refresh', fn) as Promise<T>;
    return fn();
  }

  /** Background refresh shortly before expiry (or after `inMs`). */
  private schedule(inMs?: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.session;
    if (!s) return;
    const ttl = s.expiresAt - this.now();
    const delay = inMs ?? Math.max(1_000, ttl - Math.min(60_000, Math.max(10_000, ttl * 0.2)));
    this.timer = setTimeout(() => void this.refresh(), delay);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  private read(): Session | null {
    try {
      const raw = this.storage?.getItem(STORAGE_KEY);
      if (!raw) return null;
      const v = JSON.parse(raw) as Partial<Session>;
      if (typeof v.accessToken === 'string' && typeof v.refreshToken === 'string' && typeof v.expiresAt === 'number') {
        return { accessToken: v.accessToken, refreshToken: v.refreshToken, expiresAt: v.expiresAt };
      }
    } catch {
      /* corrupt entry: treat as signed out */
    }
    return null;
  }

  private write(): void {
    try {
      if (this.session) this.storage?.setItem(STORAGE_KEY, JSON.stringify(this.session));
      else this.storage?.removeItem(STORAGE_KEY);
    } catch {
      /* storage full or disabled: the session lives in memory only */
    }
  }
}

function safeLocalStorage(): Storage | null {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : null;
  } catch {
    return null;
  }
}

export const tokens = new TokenStore();
