import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy } from 'react';
import { BrowserRouter, Route, Routes } from 'react-router';
import { Toaster } from 'sonner';
import { ApiError } from './api/http';
import { AuthProvider, useAuth } from './auth/auth';
import { Layout } from './components/Layout';
import { prefetchFleet } from './fleet/prefetch';
import { DashboardPage } from './pages/DashboardPage';
import { LoginPage } from './pages/LoginPage';
import { StartupGate } from './pages/StartupScreen';

// Secondary routes are split out of the initial bundle.
const CamerasPage = lazy(() => import('./pages/CamerasPage'));
const AlertsPage = lazy(() => import('./pages/AlertsPage'));
const OperationsPage = lazy(() => import('./pages/OperationsPage'));
// The NVR list is fetched while the route's code loads (not after it).
const NvrsPage = lazy(() => {
  void prefetchFleet(queryClient);
  return import('./pages/NvrsPage');
});

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      retry: (count, err) => count < 2 && (!(err instanceof ApiError) || err.retryable),
    },
  },
});

function Authed() {
  const { session } = useAuth();
  if (!session) return <LoginPage />;
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<DashboardPage />} />
        <Route path="cameras" element={<CamerasPage />} />
        <Route path="alerts" element={<AlertsPage />} />
        <Route path="operations" element={<OperationsPage />} />
        <Route path="nvrs" element={<NvrsPage />} />
        <Route path="*" element={<DashboardPage />} />
      </Route>
    </Routes>
  );
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <StartupGate>
        <AuthProvider>
          <BrowserRouter>
            <Authed />
          </BrowserRouter>
        </AuthProvider>
      </StartupGate>
      <Toaster theme="dark" position="bottom-right" closeButton richColors />
    </QueryClientProvider>
  );
}
