/** Alerts per hour over the last 24 h (uPlot bars; loaded with the Operations route). */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { HourBucket } from '../../fleet/types';

const SEVERITY_SERIES = [
  { key: 'critical', label: 'Critical', color: '#ef4444' },
  { key: 'high', label: 'High', color: '#f97316' },
  { key: 'medium', label: 'Medium', color: '#eab308' },
  { key: 'low', label: 'Low', color: '#22d3ee' },
] as const;

/** Stacked columns: each series is the running total down to its severity. */
export function timelineData(buckets: readonly HourBucket[]): uPlot.AlignedData {
  const xs = buckets.map((b) => Date.parse(b.hour) / 1000);
  const stacks = SEVERITY_SERIES.map((_, i) =>
    buckets.map((b) => SEVERITY_SERIES.slice(i).reduce((n, s) => n + (b.bySeverity[s.key] ?? 0), 0)),
  );
  return [xs, ...stacks];
}

export default function AlertsTimeline({ buckets }: { buckets: readonly HourBucket[] }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const bars = uPlot.paths.bars?.({ size: [0.7, 40], align: 0 });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 180,
      legend: { show: true, live: false },
      cursor: { points: { show: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, max)] } },
      axes: [
        { stroke: '#94a3b8', grid: { stroke: '#1e293b' }, ticks: { stroke: '#334155' } },
        { stroke: '#94a3b8', grid: { stroke: '#1e293b' }, ticks: { stroke: '#334155' }, size: 36 },
      ],
      series: [
        {},
        ...SEVERITY_SERIES.map((s) => ({ label: s.label, stroke: s.color, fill: s.color, width: 0, paths: bars, points: { show: false } })),
      ],
    };
    const u = new uPlot(opts, timelineData([]), el);
    plot.current = u;
    const ro = typeof ResizeObserver === 'function' ? new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 180 })) : null;
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(timelineData(buckets));
  }, [buckets]);

  const total = buckets.reduce((n, b) => n + b.total, 0);
  return (
    <figure>
      <div ref={host} role="img" aria-label={`Alerts per hour over the last 24 hours: ${total} in total`} />
    </figure>
  );
}
