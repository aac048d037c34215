import { Columns2 } from 'lucide-react';
import { errorMessage } from '../api/http';
import type { Camera } from '../api/types';
import { usePermissions } from '../auth/auth';
import { CameraTile } from '../components/CameraTile';
import { Boundary } from '../components/ErrorBoundary';
import { ErrorState, Spinner, cx } from '../components/ui';
import { useCameras } from '../lib/cameras';
import { setPrefs, usePrefs, type Prefs } from '../lib/prefs';

const GRID: Record<Prefs['columns'], string> = {
  0: 'grid-cols-1 sm:grid-cols-2 xl:grid-cols-3 2xl:grid-cols-4',
  1: 'grid-cols-1',
  2: 'grid-cols-1 sm:grid-cols-2',
  3: 'grid-cols-1 sm:grid-cols-2 lg:grid-cols-3',
  4: 'grid-cols-1 sm:grid-cols-2 lg:grid-cols-4',
};

export function DashboardPage() {
  const q = useCameras();
  const prefs = usePrefs();
  const perms = usePermissions();
  const cameras: Camera[] = q.data ?? [];

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 className="text-lg font-semibold">Live</h1>
        <label className="flex items-center gap-2 text-sm text-slate-300">
          <Columns2 aria-hidden="true" className="h-4 w-4" />
          Columns
          <select
            value={prefs.columns}
            onChange={(e) => setPrefs({ columns: Number(e.target.value) as Prefs['columns'] })}
            className="rounded-md border border-slate-700 bg-slate-900 px-2 py-1 text-sm"
          >
            <option value={0}>Auto</option>
            <option value={1}>1</option>
            <option value={2}>2</option>
            <option value={3}>3</option>
            <option value={4}>4</option>
          </select>
        </label>
      </div>
      {q.isPending && <Spinner label="Loading cameras…" />}
      {q.isError && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />}
      {q.isSuccess && cameras.length === 0 && (
        <div className="rounded-lg border border-dashed border-slate-700 p-8 text-center text-slate-400">
          <p className="text-base text-slate-200">No cameras yet.</p>
          <p className="text-sm">{perms.control ? 'Paste a camera’s RTSP URL in the field at the top and press Enter.' : 'An operator can add cameras.'}</p>
        </div>
      )}
      <div className={cx('grid gap-3', GRID[prefs.columns])} data-testid="camera-grid">
        {cameras.map((c) => (
          <Boundary key={c.id} what={`The tile of ${c.name}`} variant="tile">
            <CameraTile camera={c} />
          </Boundary>
        ))}
      </div>
    </div>
  );
}
