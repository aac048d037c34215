import { Bell, CheckCheck, Trash2, Volume2, VolumeX } from 'lucide-react';
import { useMemo } from 'react';
import { groupAlerts } from '../lib/alertGroups';
import { useCameraNames } from '../lib/cameras';
import { useStreamNames } from '../lib/streams';
import { relativeTime } from '../lib/format';
import { setPrefs, usePrefs } from '../lib/prefs';
import { ui, useUi } from '../lib/ui';
import { isUnread, realtimeStore, useRealtime } from '../realtime';
import { AlertThumb, SeverityPill } from './AlertThumb';
import { Button, Dialog, cx } from './ui';
import { useNow } from '../lib/useNow';

export function NotificationBell() {
  const unread = useRealtime((s) => s.unreadCount);
  return (
    <button
      type="button"
      aria-label="Notifications"
      aria-describedby="unread-count"
      onClick={ui.toggleNotifications}
      className="relative inline-flex items-center rounded-md p-1.5 hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-cyan-400"
    >
      <Bell aria-hidden="true" className="h-5 w-5" />
      <span id="unread-count" className="sr-only">
        {unread} unread
      </span>
      {unread > 0 && (
        <span aria-hidden="true" data-testid="unread-badge" className="absolute -right-0.5 -top-0.5 min-w-[1.1rem] rounded-full bg-red-600 px-1 text-center text-[11px] font-semibold leading-[1.1rem] text-white">
          {unread > 99 ? '99+' : unread}
        </span>
      )}
    </button>
  );
}

export function NotificationPanel() {
  const open = useUi((s) => s.notificationsOpen);
  const alerts = useRealtime((s) => s.alerts);
  const readUpTo = useRealtime((s) => s.readUpTo);
  const readIds = useRealtime((s) => s.readIds);
  const cameras = useCameraNames();
  const streams = useStreamNames(open);
  const prefs = usePrefs();
  const now = useNow(open ? 30_000 : null);

  const groups = useMemo(
    () => groupAlerts(alerts, { cameras, streams }, (a) => isUnread({ readUpTo, readIds }, a)),
    [alerts, cameras, streams, readUpTo, readIds],
  );

  return (
    <Dialog
      open={open}
      onClose={ui.closeNotifications}
      side="right"
      title="Notifications"
      actions={
        <Button
          variant="icon"
          aria-pressed={prefs.sound}
          aria-label={prefs.sound ? 'Sound on new alerts: on' : 'Sound on new alerts: off'}
          title={prefs.sound ? 'Sound on' : 'Sound off'}
          onClick={() => setPrefs({ sound: !prefs.sound })}
        >
          {prefs.sound ? <Volume2 aria-hidden="true" className="h-5 w-5" /> : <VolumeX aria-hidden="true" className="h-5 w-5" />}
        </Button>
      }
    >
      <div className="mb-3 flex gap-2">
        <Button onClick={() => realtimeStore.markAllRead()} disabled={!alerts.length}>
          <CheckCheck aria-hidden="true" className="h-4 w-4" /> Mark all read
        </Button>
        <Button onClick={() => realtimeStore.clearAll()} disabled={!alerts.length}>
          <Trash2 aria-hidden="true" className="h-4 w-4" /> Clear all
        </Button>
      </div>
      {!groups.length && <p className="py-8 text-center text-sm text-slate-400">No alerts. New ones appear here as they happen.</p>}
      <div className="space-y-4">
        {groups.map((g) => (
          <section key={g.key} data-group-kind={g.kind} aria-label={`${g.name}: ${g.alerts.length} alerts`} data-testid="notification-group">
            <h3 className="mb-1 flex items-center gap-2 text-sm font-semibold">
              <span className="truncate">{g.name}</span>
              <span className="rounded-full bg-slate-700 px-2 text-xs font-medium" aria-label={`${g.alerts.length} alerts`}>
                {g.alerts.length}
              </span>
              {g.unread > 0 && <span className="text-xs font-normal text-cyan-300">{g.unread} new</span>}
            </h3>
            <ul className="space-y-1">
              {g.alerts.map((a) => {
                const unread = isUnread({ readUpTo, readIds }, a);
                return (
                  <li key={a.id}>
                    <button
                      type="button"
                      onClick={() => {
                        realtimeStore.markRead(a.id);
                        ui.openAlert(a.id, a);
                      }}
                      data-unread={unread || undefined}
                      className={cx(
                        'flex w-full items-center gap-3 rounded-md p-2 text-left text-sm hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-cyan-400',
                        unread ? 'bg-cyan-950/50' : '',
                      )}
                    >
                      <AlertThumb thumbnail={a.thumbnail} className="h-12 w-16 shrink-0" />
                      <span className="min-w-0 flex-1">
                        <span className={cx('block truncate', unread ? 'font-semibold text-slate-50' : 'text-slate-300')}>
                          {unread && <span className="sr-only">Unread: </span>}
                          {a.message}
                        </span>
                        <span className="flex items-center gap-2 text-xs text-slate-400">
                          <time dateTime={a.createdAt} title={new Date(a.createdAt).toLocaleString()}>
                            {relativeTime(a.createdAt, now)}
                          </time>
                          <SeverityPill severity={a.severity} />
                        </span>
                      </span>
                      {unread && <span aria-hidden="true" className="h-2 w-2 shrink-0 rounded-full bg-cyan-400" />}
                    </button>
                  </li>
                );
              })}
            </ul>
          </section>
        ))}
      </div>
    </Dialog>
  );
}
