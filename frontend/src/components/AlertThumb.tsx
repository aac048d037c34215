import { ScanFace } from 'lucide-react';
import { cx } from './ui';

export function thumbSrc(thumbnail: string | null | undefined): string | null {
  if (!thumbnail) return null;
  return thumbnail.startsWith('data:') ? thumbnail : `data:image/jpeg;base64,${thumbnail}`;
}

export function AlertThumb({ thumbnail, className }: { thumbnail: string | null | undefined; className?: string }) {
  const src = thumbSrc(thumbnail);
  if (!src)
    return (
      <span className={cx('flex items-center justify-center rounded bg-slate-800 text-slate-500', className)}>
        <ScanFace aria-hidden="true" className="h-5 w-5" />
      </span>
    );
  return <img src={src} alt="" className={cx('rounded bg-slate-800 object-cover', className)} />;
}

export const SEVERITY_STYLES: Record<string, string> = {
  low: 'bg-slate-700 text-slate-200',
  medium: 'bg-amber-900/70 text-amber-200',
  high: 'bg-orange-900/70 text-orange-200',
  critical: 'bg-red-900/80 text-red-100',
};

export function SeverityPill({ severity }: { severity: string }) {
  return <span className={cx('rounded px-1.5 py-0.5 text-[11px] font-medium capitalize', SEVERITY_STYLES[severity] ?? SEVERITY_STYLES.low)}>{severity}</span>;
}
