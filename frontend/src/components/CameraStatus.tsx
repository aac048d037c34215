import { Signal, SignalHigh, SignalLow, SignalZero } from 'lucide-react';
import type { CameraStatus, ConnectionQuality } from '../api/types';
import { STATUS_COLORS, STATUS_LABELS } from '../lib/format';
import { MOVING_DETAIL, isMoving } from '../lib/workers';
import { Dot, cx } from './ui';

/** A camera's status. `detail` "Moving to another worker" (a handover between workers,
 * issue 12) shows as a neutral "Moving", never as trouble. */
export function StatusBadge({ status, attempt, detail, className }: { status: CameraStatus; attempt?: number | null; detail?: string | null; className?: string }) {
  const moving = isMoving(status, detail);
  const label = moving ? 'Moving' : STATUS_LABELS[status] ?? status;
  return (
    <span className={cx('inline-flex items-center gap-1.5 text-xs text-slate-300', className)} data-status={status} data-moving={moving || undefined} title={moving ? MOVING_DETAIL : undefined}>
      <Dot color={moving ? 'bg-slate-400' : STATUS_COLORS[status] ?? 'bg-slate-500'} pulse={status === 'CONNECTING' || status === 'STARTING'} />
      <span>
        {label}
        {status === 'CONNECTING' && attempt ? ` (attempt ${attempt})` : ''}
      </span>
    </span>
  );
}

const QUALITY: Record<ConnectionQuality, { label: string; icon: typeof Signal; color: string }> = {
  excellent: { label: 'Excellent', icon: Signal, color: 'text-emerald-400' },
  fair: { label: 'Fair', icon: SignalHigh, color: 'text-lime-300' },
  poor: { label: 'Poor', icon: SignalLow, color: 'text-orange-400' },
  unusable: { label: 'Unusable', icon: SignalZero, color: 'text-red-400' },
};

export function QualityBadge({ quality, detail }: { quality: ConnectionQuality | null | undefined; detail?: string }) {
  if (!quality) return null;
  const q = QUALITY[quality] ?? QUALITY.fair;
  const Icon = q.icon;
  return (
    <span className={cx('inline-flex items-center gap-1 text-xs', q.color)} title={detail ? `Connection quality: ${q.label} — ${detail}` : `Connection quality: ${q.label}`}>
      <Icon aria-hidden="true" className="h-3.5 w-3.5" />
      <span>
        <span className="sr-only">Connection quality: </span>
        {q.label}
      </span>
    </span>
  );
}
