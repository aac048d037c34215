import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { toast } from 'sonner';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/http';
import type { Camera, CameraUpdate } from '../api/types';
import { camerasKey } from '../lib/cameras';
import { Button, ConfirmDialog, Dialog, ErrorState } from './ui';

const input = 'w-full rounded-md border border-slate-700 bg-slate-950 px-3 py-2 text-sm focus:border-cyan-500 focus:outline-none';

export function EditCameraDialog({ camera, onClose }: { camera: Camera | null; onClose: () => void }) {
  const qc = useQueryClient();
  const id = useId();
  const [name, setName] = useState('');
  const [location, setLocation] = useState('');
  const [url, setUrl] = useState('');
  const [face, setFace] = useState(true);
  const [enabled, setEnabled] = useState(true);
  useEffect(() => {
    if (!camera) return;
    setName(camera.name);
    setLocation(camera.location ?? '');
    setUrl(camera.rtspUrl);
    setFace(camera.faceDetectionEnabled);
    setEnabled(camera.enabled);
  }, [camera]);
  const m = useMutation({
    mutationFn: (body: CameraUpdate) => api.updateCamera(camera!.id, body),
    onSuccess: (c) => {
      toast.success(`Saved “${c?.name ?? name}”.`);
      void qc.invalidateQueries({ queryKey: camerasKey });
      onClose();
    },
  });
  useEffect(() => m.reset(), [camera]);
  if (!camera) return <Dialog open={false} onClose={onClose} title="">{null}</Dialog>;
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const body: CameraUpdate = {};
    if (name.trim() !== camera.name) body.name = name.trim();
    if ((location.trim() || null) !== (camera.location ?? null)) body.location = location.trim() || null;
    // The URL is shown masked; send it only when the user typed a new one.
    if (url.trim() !== camera.rtspUrl) body.rtspUrl = url.trim();
    if (face !== camera.faceDetectionEnabled) body.faceDetectionEnabled = face;
    if (enabled !== camera.enabled) body.enabled = enabled;
    if (!Object.keys(body).length) {
      onClose();
      return;
    }
    m.mutate(body);
  };
  return (
    <Dialog open onClose={onClose} title={`Edit ${camera.name}`}>
      <form onSubmit={submit} className="space-y-3" noValidate>
        <div className="space-y-1">
          <label htmlFor={`${id}-name`} className="block text-sm text-slate-300">
            Name
          </label>
          <input id={`${id}-name`} className={input} value={name} onChange={(e) => setName(e.target.value)} required />
        </div>
        <div className="space-y-1">
          <label htmlFor={`${id}-loc`} className="block text-sm text-slate-300">
            Location
          </label>
          <input id={`${id}-loc`} className={input} value={location} onChange={(e) => setLocation(e.target.value)} placeholder="e.g. Front door" />
        </div>
        <div className="space-y-1">
          <label htmlFor={`${id}-url`} className="block text-sm text-slate-300">
            RTSP URL
          </label>
          <input id={`${id}-url`} className={`${input} font-mono`} value={url} onChange={(e) => setUrl(e.target.value)} spellCheck={false} aria-describedby={`${id}-url-help`} />
          <p id={`${id}-url-help`} className="text-xs text-slate-400">
            The password is never shown (***). Leave the address as it is to keep it, or paste a full new one.
          </p>
        </div>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={face} onChange={(e) => setFace(e.target.checked)} /> Face detection
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
        </label>
        {m.isError && <ErrorState message={errorMessage(m.error)} />}
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" disabled={m.isPending}>
            Save
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export function DeleteCameraDialog({ camera, onClose }: { camera: Camera | null; onClose: () => void }) {
  const qc = useQueryClient();
  const m = useMutation({
    mutationFn: (id: string) => api.deleteCamera(id),
    onSuccess: (_v, id) => {
      qc.setQueryData<{ items: Camera[] }>(camerasKey, (old) => (old ? { ...old, items: old.items.filter((c) => c.id !== id) } : old));
      void qc.invalidateQueries({ queryKey: camerasKey });
      toast.success(`Deleted “${camera?.name ?? 'camera'}”.`);
      onClose();
    },
  });
  useEffect(() => m.reset(), [camera]);
  return (
    <ConfirmDialog
      open={!!camera}
      title={`Delete ${camera?.name ?? 'camera'}?`}
      body={<p>The camera is stopped and removed. Its alerts stay in the history. This cannot be undone.</p>}
      confirmLabel="Delete"
      busy={m.isPending}
      error={m.isError ? errorMessage(m.error) : null}
      onConfirm={() => camera && m.mutate(camera.id)}
      onClose={onClose}
    />
  );
}
