/** Alerts of one stream as the /publish page and the stream viewer list them: from the relay
 * socket as they arrive, and (viewer) from the alert history. */
import type { Alert } from '../api/types';
import type { RelayAlert } from './protocol';

export interface StreamAlertItem {
  id: string;
  severity: Alert['severity'];
  message: string;
  /** ISO time. */
  createdAt: string;
  /** The alert's type: `ml-alert`, `face-detection`, … */
  kind: string;
  confidence: number | null;
}

function confidenceOf(metadata: unknown): number | null {
  const c = (metadata as { confidence?: unknown } | null)?.confidence;
  return typeof c === 'number' && Number.isFinite(c) ? c : null;
}

export function fromRelayAlert(m: RelayAlert): StreamAlertItem {
  return { id: m.id, severity: m.severity, message: m.message, createdAt: m.timestamp, kind: m.alertType, confidence: confidenceOf(m.metadata) };
}

export function fromAlert(a: Alert): StreamAlertItem {
  return { id: a.id, severity: a.severity, message: a.message, createdAt: a.createdAt, kind: a.type, confidence: confidenceOf(a.metadata) };
}

/** `incoming` merged into `list`: newest first, one entry per id, at most `max`. */
export function mergeAlerts(list: readonly StreamAlertItem[], incoming: readonly StreamAlertItem[], max = 50): StreamAlertItem[] {
  const byId = new Map(list.map((a) => [a.id, a]));
  for (const a of incoming) byId.set(a.id, a);
  return [...byId.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0)).slice(0, max);
}
