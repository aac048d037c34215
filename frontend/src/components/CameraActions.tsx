import { Pencil, Play, RotateCw, Square, Trash2 } from 'lucide-react';
import type { Camera, CameraStatus } from '../api/types';
import { usePermissions } from '../auth/auth';
import { useCameraActions } from '../lib/cameras';
import { isRunning } from '../lib/format';
import { Button } from './ui';

/** Start/stop/restart/edit/delete; renders nothing for a viewer. */
export function CameraActions({ camera, status, onEdit, onDelete, compact }: { camera: Camera; status: CameraStatus; onEdit: (c: Camera) => void; onDelete: (c: Camera) => void; compact?: boolean }) {
  const perms = usePermissions();
  const { command } = useCameraActions();
  if (!perms.control) return null;
  const running = isRunning(status) || status === 'ERROR';
  const v = compact ? 'icon' : 'secondary';
  const text = (s: string) => (compact ? null : s);
  return (
    <div className="flex flex-wrap items-center gap-1">
      {running ? (
        <Button variant={v} aria-label={`Stop ${camera.name}`} title="Stop" onClick={() => command(camera, 'stop')} disabled={status === 'STOPPING'}>
          <Square aria-hidden="true" className="h-4 w-4" /> {text('Stop')}
        </Button>
      ) : (
        <Button variant={v} aria-label={`Start ${camera.name}`} title="Start" onClick={() => command(camera, 'start')} disabled={status === 'STOPPING'}>
          <Play aria-hidden="true" className="h-4 w-4" /> {text('Start')}
        </Button>
      )}
      <Button variant={v} aria-label={`Restart ${camera.name}`} title="Restart" onClick={() => command(camera, 'restart')}>
        <RotateCw aria-hidden="true" className="h-4 w-4" /> {text('Restart')}
      </Button>
      <Button variant={v} aria-label={`Edit ${camera.name}`} title="Edit" onClick={() => onEdit(camera)}>
        <Pencil aria-hidden="true" className="h-4 w-4" /> {text('Edit')}
      </Button>
      <Button variant={v} aria-label={`Delete ${camera.name}`} title="Delete" onClick={() => onDelete(camera)} className="text-red-300">
        <Trash2 aria-hidden="true" className="h-4 w-4" /> {text('Delete')}
      </Button>
    </div>
  );
}
