/** Small pieces the fleet pages share: NVR status badge, polling notice, animated number. */
import { WifiOff } from 'lucide-react';
import { useEffect, useRef, useState } from 'react';
import { useFallback } from '../../fleet';
import type { NvrStatus, Reachability } from '../../fleet/types';
import { Dot, cx } from '../ui';

const NVR_COLORS: Record<NvrStatus, string> = { online: 'bg-emerald-500', offline: 'bg-red-500' };
const REACH_COLORS: Record<Reachability, string> = { online: 'bg-emerald-500', offline: 'bg-red-500', unknown: 'bg-slate-500' };

/** Online/offline with a short colour transition when it changes. */
export function NvrStatusBadge({ status, className }: { status: NvrStatus; className?: string }) {
  return (
    <span
      data-nvr-status={status}
      className={cx(
        'inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium capitalize transition-colors duration-300',
        status === 'online' ? 'bg-emerald-950/60 text-emerald-300' : 'bg-red-950/60 text-red-300',
        className,
      )}
    >
      <Dot color={NVR_COLORS[status]} className="transition-colors duration-300" /> {status}
    </span>
  );
}

export function ReachabilityBadge({ value, detail }: { value: Reachability | undefined; detail?: string | null }) {
  const v = value ?? 'unknown';
  return (
    <span data-reachability={v} title={detail ?? undefined} className="inline-flex items-center gap-1.5 text-xs capitalize text-slate-300 transition-colors duration-300">
      <Dot color={REACH_COLORS[v]} className="transition-colors duration-300" /> {v}
      {detail && v === 'offline' ? <span className="text-slate-500 normal-case">({detail})</span> : null}
    </span>
  );
}

/** "Live updates are interrupted…" while the fleet pages poll REST. */
export function FallbackNotice() {
  const fb = useFallback();
  if (!fb.notice) return null;
  return (
    <p role="status" data-testid="polling-notice" className="flex items-center gap-2 rounded-md border border-amber-800/60 bg-amber-950/40 px-3 py-2 text-sm text-amber-200">
      <WifiOff aria-hidden="true" className="h-4 w-4" /> {fb.notice}
    </p>
  );
}

/** A number that counts to its new value (300 ms) and flashes when it changes. */
export function AnimatedNumber({ value, className }: { value: number; className?: string }) {
  const [shown, setShown] = useState(value);
  const [flash, setFlash] = useState(false);
  const from = useRef(value);
  useEffect(() => {
    const start = from.current;
    if (start === value) return;
    from.current = value;
    setFlash(true);
    const reduce = typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
    if (reduce || typeof requestAnimationFrame !== 'function') {
      setShown(value);
      const t = setTimeout(() => setFlash(false), 400);
      return () => clearTimeout(t);
    }
    const t0 = performance.now();
    let raf = 0;
    const step = () => {
      const k = Math.min(1, Math.max(0, (performance.now() - t0) / 300));
      setShown(Math.round(start + (value - start) * k));
      if (k < 1) raf = requestAnimationFrame(step);
      else setFlash(false);
    };
    raf = requestAnimationFrame(step);
    return () => {
      cancelAnimationFrame(raf);
      setShown(value);
      setFlash(false);
    };
  }, [value]);
  return (
    <span data-value={value} className={cx('tabular-nums transition-colors duration-300', flash && 'text-cyan-300', className)}>
      {shown.toLocaleString()}
    </span>
  );
}
