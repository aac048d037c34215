import { Activity, Cctv, HardDrive, LayoutGrid, List, LogOut, ScrollText, Siren, Smartphone, User } from 'lucide-react';
import { Suspense } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { useAuth, usePermissions } from '../auth/auth';
import { AlertDetailDialog } from './AlertDetailDialog';
import { Boundary } from './ErrorBoundary';
import { HealthIndicator } from './HealthIndicator';
import { NotificationBell, NotificationPanel } from './NotificationPanel';
import { Popover } from './Popover';
import { QuickAdd } from './QuickAdd';
import { FleetBridge } from './fleet/FleetBridge';
import { RealtimeBridge } from './RealtimeBridge';
import { SocketStatus } from './SocketStatus';
import { Button, Spinner, cx } from './ui';

const nav = [
  { to: '/', label: 'Dashboard', icon: LayoutGrid, end: true },
  { to: '/cameras', label: 'Cameras', icon: List, end: false },
  { to: '/streams', label: 'Streams', icon: Smartphone, end: false },
  { to: '/alerts', label: 'Alerts', icon: Siren, end: false },
  { to: '/operations', label: 'Operations', icon: Activity, end: false },
  { to: '/nvrs', label: 'NVRs', icon: HardDrive, end: false },
  { to: '/audit', label: 'Audit', icon: ScrollText, end: false, admin: true },
];

function UserMenu() {
  const { me, signOut } = useAuth();
  return (
    <Popover label={`Account${me ? `: ${me.username}` : ''}`} button={<User aria-hidden="true" className="h-5 w-5" />} panelClassName="w-56">
      <p className="text-sm font-medium">{me?.username ?? '…'}</p>
      <p className="mb-3 text-xs capitalize text-slate-400">{me?.role ?? ''}</p>
      <Button className="w-full" onClick={() => void signOut()}>
        <LogOut aria-hidden="true" className="h-4 w-4" /> Sign out
      </Button>
    </Popover>
  );
}

export function Layout() {
  const perms = usePermissions();
  const { pathname } = useLocation();
  return (
    <div className="flex min-h-dvh flex-col">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-cyan-700 focus:px-3 focus:py-1">
        Skip to content
      </a>
      <RealtimeBridge />
      <FleetBridge />
      <header className="sticky top-0 z-20 border-b border-slate-800 bg-slate-950/95 backdrop-blur">
        <div className="flex flex-wrap items-center gap-x-3 gap-y-2 px-3 py-2 sm:px-4">
          <span className="flex items-center gap-2 font-semibold text-cyan-300">
            <Cctv aria-hidden="true" className="h-5 w-5" /> <span className="hidden sm:inline">Beholder</span>
          </span>
          <nav aria-label="Main" className="flex items-center gap-1">
            {nav.filter((n) => !('admin' in n) || perms.admin).map(({ to, label, icon: Icon, end }) => (
              <NavLink
                key={to}
                to={to}
                end={end}
                className={({ isActive }) =>
                  cx(
                    'inline-flex items-center gap-1.5 rounded-md px-2 py-1.5 text-sm focus-visible:outline-2 focus-visible:outline-cyan-400',
                    isActive ? 'bg-slate-800 text-white' : 'text-slate-300 hover:bg-slate-800/60',
                  )
                }
              >
                <Icon aria-hidden="true" className="h-4 w-4" />
                <span className="hidden md:inline">{label}</span>
                <span className="sr-only md:hidden">{label}</span>
              </NavLink>
            ))}
          </nav>
          {perms.control && <QuickAdd className="order-last w-full sm:order-none sm:w-auto sm:min-w-64 sm:flex-1 md:max-w-xl" />}
          <div className="ml-auto flex items-center gap-1">
            <SocketStatus />
            <HealthIndicator />
            <NotificationBell />
            <UserMenu />
          </div>
        </div>
      </header>
      <main id="main" className="min-w-0 flex-1 p-3 sm:p-4">
        {/* A crashed page keeps the header and navigation; going elsewhere clears it. */}
        <Boundary what="This page" variant="page" resetKeys={[pathname]}>
          <Suspense fallback={<Spinner label="Loading…" className="p-4" />}>
            <Outlet />
          </Suspense>
        </Boundary>
      </main>
      <NotificationPanel />
      <AlertDetailDialog />
    </div>
  );
}
