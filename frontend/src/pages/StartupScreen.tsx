import { useQuery } from '@tanstack/react-query';
import { Cctv } from 'lucide-react';
import { useEffect, useState, type ReactNode } from 'react';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/http';
import { ServiceList } from '../components/HealthIndicator';
import { Spinner } from '../components/ui';

/** Shows the services while /api/system/ready is not ready (polling), then the app. */
export function StartupGate({ children }: { children: ReactNode }) {
  const [ready, setReady] = useState(false);
  const q = useQuery({
    queryKey: ['ready'],
    queryFn: api.ready,
    enabled: !ready,
    refetchInterval: 1000,
    retry: false,
    refetchOnWindowFocus: false,
  });
  useEffect(() => {
    if (q.data?.ready) setReady(true);
  }, [q.data]);
  if (ready) return <>{children}</>;
  // Do not flash the start-up screen for a server that answers ready at once.
  if (q.isPending) return <Spinner label="Connecting to Beholder…" className="m-6" />;
  return (
    <main className="flex min-h-dvh items-center justify-center p-4">
      <section aria-labelledby="startup-title" className="w-full max-w-md space-y-4 rounded-lg border border-slate-800 bg-slate-900 p-6">
        <h1 id="startup-title" className="flex items-center gap-2 text-lg font-semibold text-cyan-300">
          <Cctv aria-hidden="true" className="h-6 w-6" /> Beholder is starting
        </h1>
        <p className="text-sm text-slate-300" role="status">
          {q.isError ? `Waiting for the server… (${errorMessage(q.error)})` : q.data?.message ?? 'Waiting for all services to be ready…'}
        </p>
        {q.data && <ServiceList services={q.data.services} />}
        <Spinner label="Checking again every second" />
      </section>
    </main>
  );
}
