import { useQueryClient } from '@tanstack/react-query';
import { Loader2, Plus } from 'lucide-react';
import { useId, useState } from 'react';
import { toast } from 'sonner';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/http';
import type { Camera, Page } from '../api/types';
import { camerasKey } from '../lib/cameras';
import { nameFromUrl, quickRtspCheck } from '../lib/cameraName';
import { acceptedStatus, realtimeStore } from '../realtime';
import { cx } from './ui';

/** Paste an RTSP URL, press Enter: the camera is created (named after its host) and started. */
export function QuickAdd({ className }: { className?: string }) {
  const qc = useQueryClient();
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (busy) return;
    const url = value.trim();
    const local = quickRtspCheck(url);
    if (local) {
      setError(local);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const taken = (qc.getQueryData<Page<Camera>>(camerasKey)?.items ?? []).map((c) => c.name);
      let cam: Camera | null = null;
      for (let i = 0; !cam; i++) {
        const name = nameFromUrl(url, taken);
        try {
          cam = await api.createCamera({ name, rtspUrl: url, enabled: true, faceDetectionEnabled: true });
        } catch (err) {
          // A camera of that name was made meanwhile (another browser): take the next name.
          if (err instanceof ApiError && err.code === 'CONFLICT' && i < 3) taken.push(name);
          else throw err;
        }
      }
      const created = cam;
      qc.setQueryData<Page<Camera>>(camerasKey, (old) => ({ ...(old ?? {}), items: [...(old?.items ?? []).filter((c) => c.id !== created.id), created] }));
      setValue('');
      try {
        const r = await api.cameraCommand(created.id, 'start');
        realtimeStore.dispatch(acceptedStatus(created.id, r?.status ?? 'STARTING'));
        toast.success(`Added “${created.name}”. Starting…`);
      } catch (err) {
        toast.error(`“${created.name}” was added but could not be started: ${errorMessage(err)}`);
      }
      void qc.invalidateQueries({ queryKey: camerasKey });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className={cx('relative min-w-0', className)} noValidate>
      <label htmlFor={id} className="sr-only">
        Add a camera: paste its RTSP URL and press Enter
      </label>
      <div className="flex items-center gap-1 rounded-md border border-slate-700 bg-slate-900 focus-within:border-cyan-500">
        <span className="pl-2 text-slate-400">{busy ? <Loader2 aria-hidden="true" className="h-4 w-4 animate-spin" /> : <Plus aria-hidden="true" className="h-4 w-4" />}</span>
        <input
          id={id}
          type="text"
          inputMode="url"
          autoComplete="off"
          spellCheck={false}
          value={value}
          onChange={(e) => {
            setValue(e.target.value);
            if (error) setError(null);
          }}
          placeholder="Paste an RTSP URL (rtsp://…) and press Enter to add a camera"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          disabled={busy}
          className="w-full min-w-0 bg-transparent px-1 py-1.5 text-sm text-slate-100 placeholder:text-slate-500 focus:outline-none"
        />
      </div>
      {error && (
        <p id={`${id}-error`} role="alert" className="absolute left-0 right-0 top-full z-30 mt-1 rounded-md border border-red-800 bg-red-950 px-2 py-1.5 text-xs text-red-200 shadow-lg">
          {error}
        </p>
      )}
    </form>
  );
}
