export interface BackoffOptions {
  /** First delay, ms. */
  baseMs: number;
  /** Upper bound, ms. */
  maxMs: number;
  factor: number;
  /** 0…1: share of the delay that is randomised (0.5 → delay in [d/2, d]). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * Math.pow(opts.factor, Math.max(0, attempt)));
  const j = Math.min(1, Math.max(0, opts.jitter));
  return Math.round(exp * (1 - j) + exp * j * random());
}
