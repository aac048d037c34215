import { formatDistanceToNowStrict } from 'date-fns';
import type { CameraStatus, HealthStatus } from '../api/types';

export function relativeTime(iso: string | null | undefined, now?: number): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  if (now !== undefined && Math.abs(now - d.getTime()) < 5_000) return 'just now';
  return formatDistanceToNowStrict(d, { addSuffix: true });
}

export function absoluteTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

/**
 * A `datetime-local` input's value (local time, e.g. `2030-01-01T00:00`) as an ISO 8601
 * instant in UTC; undefined when the input is empty or not a date (nothing is thrown).
 */
export function localDateTimeToIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export const HEALTH_COLORS: Record<HealthStatus, string> = {
  HEALTHY: 'bg-emerald-500',
  DEGRADED: 'bg-orange-500',
  UNHEALTHY: 'bg-red-500',
  STARTING: 'bg-yellow-400',
  UNKNOWN: 'bg-slate-500',
};

export function healthKey(s: string | null | undefined): HealthStatus {
  const u = (s ?? '').toUpperCase();
  return u in HEALTH_COLORS ? (u as HealthStatus) : 'UNKNOWN';
}

export const HEALTH_LABELS: Record<HealthStatus, string> = {
  HEALTHY: 'Healthy',
  DEGRADED: 'Degraded',
  UNHEALTHY: 'Unhealthy',
  STARTING: 'Starting',
  UNKNOWN: 'Unknown',
};

export const STATUS_COLORS: Record<CameraStatus, string> = {
  PROCESSING: 'bg-emerald-500',
  STARTING: 'bg-yellow-400',
  CONNECTING: 'bg-yellow-400',
  ERROR: 'bg-red-500',
  STOPPING: 'bg-slate-400',
  STOPPED: 'bg-slate-500',
  OFFLINE: 'bg-slate-600',
};

export const STATUS_LABELS: Record<CameraStatus, string> = {
  PROCESSING: 'Live',
  STARTING: 'Starting',
  CONNECTING: 'Connecting',
  ERROR: 'Error',
  STOPPING: 'Stopping',
  STOPPED: 'Stopped',
  OFFLINE: 'Offline',
};

export function isRunning(s: CameraStatus): boolean {
  return s === 'STARTING' || s === 'CONNECTING' || s === 'PROCESSING';
}

export function formatBytes(n: number | undefined | null): string {
  if (n === undefined || n === null) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds: number | undefined | null): string {
  if (seconds === undefined || seconds === null) return '—';
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

export function num(v: number | null | undefined, digits = 1): string {
  return v === undefined || v === null || Number.isNaN(v) ? '—' : v.toFixed(digits);
}
