import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Suspense, lazy } from 'react';
import { BrowserRouter, Route, Routes } from 'react-router';
import { Toaster } from 'sonner';
import { ApiError } from './api/http';
import { AuthProvider, useAuth } from './auth/auth';
import { Boundary } from './components/ErrorBoundary';
import { Layout } from './components/Layout';
import { prefetchFleet } from './fleet/prefetch';
import { DashboardPage } from './pages/DashboardPage';
import { LoginPage } from './pages/LoginPage';
import { StartupGate } from './pages/StartupScreen';
import { Spinner } from './components/ui';

// Secondary routes are split out of the initial bundle.
const CamerasPage = lazy(() => import('./pages/CamerasPage'));
const AlertsPage = lazy(() => import('./pages/AlertsPage'));
const StreamsPage = lazy(() => import('./pages/StreamsPage'));
const StreamViewerPage = lazy(() => import('./pages/StreamViewerPage'));
// The phone's page: no dashboard around it (and no hub socket).
const PublishPage = lazy(() => import('./pages/PublishPage'));
const OperationsPage = lazy(() => import('./pages/OperationsPage'));
const AuditPage = lazy(() => import('./pages/AuditPage'));
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
      <Route
        path="publish"
        element={
          <Boundary what="This page" variant="page">
            <Suspense fallback={<Spinner label="Loading…" className="p-4" />}>
              <PublishPage />
            </Suspense>
          </Boundary>
        }
      />
      <Route element={<Layout />}>
        <Route index element={<DashboardPage />} />
        <Route path="cameras" element={<CamerasPage />} />
        <Route path="alerts" element={<AlertsPage />} />
        <Route path="streams" element={<StreamsPage />} />
        <Route path="streams/:id" element={<StreamViewerPage />} />
        <Route path="operations" element={<OperationsPage />} />
        <Route path="nvrs" element={<NvrsPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="*" element={<DashboardPage />} />
      </Route>
    </Routes>
  );
}

export function App() {
  return (
    // The last resort: whatever escapes the inner boundaries still leaves a message and Retry.
    <Boundary what="Beholder" variant="app">
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
    </Boundary>
  );
}
