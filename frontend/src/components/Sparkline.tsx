/** A tiny SVG line chart (no chart library needed for one series). */
export function Sparkline({ values, max, label, className }: { values: number[]; max?: number; label: string; className?: string }) {
  const w = 160;
  const h = 36;
  const top = Math.max(max ?? 0, ...values, 1);
  const pts = values.map((v, i) => `${values.length > 1 ? (i / (values.length - 1)) * w : w},${h - (Math.max(0, v) / top) * (h - 2) - 1}`).join(' ');
  return (
    <svg role="img" aria-label={label} viewBox={`0 0 ${w} ${h}`} className={className} preserveAspectRatio="none">
      <polyline points={pts} fill="none" stroke="currentColor" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
