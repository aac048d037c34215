/** Add, edit and delete an NVR (admins), and the one-time key with the agent's install command. */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Copy, KeyRound } from 'lucide-react';
import { useEffect, useId, useState } from 'react';
import { toast } from 'sonner';
import { errorMessage } from '../../api/http';
import { fleetKeys } from '../../fleet';
import { fleetApi } from '../../fleet/api';
import type { Nvr, NvrCreate, NvrKeyCreated } from '../../fleet/types';
import { Button, Dialog, ErrorState } from '../ui';

const input = 'w-full rounded-md border border-slate-700 bg-slate-950 px-3 py-2 text-sm focus:border-cyan-500 focus:outline-none';

function Field({ label, value, onChange, placeholder, required, mono }: { label: string; value: string; onChange: (v: string) => void; placeholder?: string; required?: boolean; mono?: boolean }) {
  const id = useId();
  return (
    <div className="space-y-1">
      <label htmlFor={id} className="block text-sm text-slate-300">
        {label}
      </label>
      <input id={id} className={`${input} ${mono ? 'font-mono' : ''}`} value={value} onChange={(e) => onChange(e.target.value)} placeholder={placeholder} required={required} spellCheck={false} />
    </div>
  );
}

/** `nvr` null: add a new one; otherwise edit it. */
export function NvrFormDialog({ open, nvr, onClose, onCreated }: { open: boolean; nvr: Nvr | null; onClose: () => void; onCreated?: (n: Nvr) => void }) {
  const qc = useQueryClient();
  const [hostname, setHostname] = useState('');
  const [deviceName, setDeviceName] = useState('');
  const [region, setRegion] = useState('');
  const [site, setSite] = useState('');
  useEffect(() => {
    if (!open) return;
    setHostname(nvr?.hostname ?? '');
    setDeviceName(nvr?.deviceName ?? '');
    setRegion(nvr?.region ?? '');
    setSite(nvr?.site ?? '');
  }, [open, nvr]);
  const m = useMutation({
    mutationFn: (body: NvrCreate) => (nvr ? fleetApi.updateNvr(nvr.id, body) : fleetApi.createNvr(body)),
    onSuccess: (n) => {
      toast.success(nvr ? `Saved ${n.deviceName || n.hostname}.` : `Added ${n.deviceName || n.hostname}.`);
      void qc.invalidateQueries({ queryKey: fleetKeys.nvrs });
      if (!nvr) onCreated?.(n);
      onClose();
    },
  });
  useEffect(() => m.reset(), [open]);
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (!hostname.trim()) return;
    m.mutate({ hostname: hostname.trim(), deviceName: deviceName.trim() || null, region: region.trim() || null, site: site.trim() || null });
  };
  return (
    <Dialog open={open} onClose={onClose} title={nvr ? `Edit ${nvr.deviceName || nvr.hostname}` : 'Add an NVR'}>
      <form onSubmit={submit} className="space-y-3" noValidate>
        <Field label="Hostname" value={hostname} onChange={setHostname} placeholder="site-a-nvr" required mono />
        <Field label="Device name" value={deviceName} onChange={setDeviceName} placeholder="Site A recorder" />
        <div className="grid grid-cols-2 gap-3">
          <Field label="Region" value={region} onChange={setRegion} placeholder="north" />
          <Field label="Site" value={site} onChange={setSite} placeholder="Warehouse 3" />
        </div>
        {m.isError && <ErrorState message={errorMessage(m.error)} />}
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" type="submit" disabled={!hostname.trim() || m.isPending}>
            {nvr ? 'Save' : 'Add NVR'}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

/** Delete asks what becomes of the NVR's cameras: detached (kept) or deleted with it. */
export function DeleteNvrDialog({ nvr, onClose, onDeleted }: { nvr: Nvr | null; onClose: () => void; onDeleted?: () => void }) {
  const qc = useQueryClient();
  const [cameras, setCameras] = useState<'detach' | 'delete'>('detach');
  const m = useMutation({
    mutationFn: () => fleetApi.deleteNvr(nvr!.id, cameras),
    onSuccess: () => {
      toast.success(`Deleted ${nvr?.deviceName || nvr?.hostname}${cameras === 'delete' ? ' and its cameras' : ''}.`);
      void qc.invalidateQueries({ queryKey: fleetKeys.nvrs });
      void qc.invalidateQueries({ queryKey: ['cameras'] });
      onDeleted?.();
      onClose();
    },
  });
  useEffect(() => {
    setCameras('detach');
    m.reset();
  }, [nvr]);
  const n = nvr?.cameraCounts.total ?? 0;
  return (
    <Dialog open={!!nvr} onClose={onClose} title={`Delete ${nvr?.deviceName || nvr?.hostname || 'NVR'}?`}>
      <div className="space-y-3 text-sm">
        <p>
          This NVR has {n} camera{n === 1 ? '' : 's'}. Its keys are revoked and its agent can no longer connect.
        </p>
        <fieldset className="space-y-2">
          <legend className="mb-1 text-slate-300">Its cameras:</legend>
          <label className="flex items-start gap-2">
            <input type="radio" name="nvr-cameras" checked={cameras === 'detach'} onChange={() => setCameras('detach')} />
            <span>
              <strong>Keep them</strong> as cameras without an NVR
            </span>
          </label>
          <label className="flex items-start gap-2">
            <input type="radio" name="nvr-cameras" checked={cameras === 'delete'} onChange={() => setCameras('delete')} />
            <span>
              <strong>Delete them</strong> with the NVR (their alerts go too)
            </span>
          </label>
        </fieldset>
        {m.isError && <ErrorState message={errorMessage(m.error)} />}
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="danger" onClick={() => m.mutate()} disabled={m.isPending}>
            Delete NVR{cameras === 'delete' ? ` and ${n} camera${n === 1 ? '' : 's'}` : ''}
          </Button>
        </div>
      </div>
    </Dialog>
  );
}

function CopyField({ label, value }: { label: string; value: string }) {
  return (
    <div className="space-y-1">
      <p className="text-sm text-slate-300">{label}</p>
      <div className="flex items-start gap-2">
        <pre className="min-w-0 flex-1 overflow-x-auto whitespace-pre-wrap break-all rounded-md border border-slate-700 bg-slate-950 p-2 font-mono text-xs">{value}</pre>
        <Button
          variant="icon"
          aria-label={`Copy ${label.toLowerCase()}`}
          onClick={() => void navigator.clipboard?.writeText(value).then(() => toast.success('Copied.'), () => toast.error('Could not copy; select the text instead.'))}
        >
          <Copy aria-hidden="true" className="h-4 w-4" />
        </Button>
      </div>
    </div>
  );
}

/** Creates an agent key for the NVR and shows it once, with the install command. */
export function NvrKeyDialog({ nvr, onClose }: { nvr: Nvr | null; onClose: () => void }) {
  const [created, setCreated] = useState<NvrKeyCreated | null>(null);
  const m = useMutation({ mutationFn: () => fleetApi.createKey(nvr!.id), onSuccess: setCreated });
  useEffect(() => {
    setCreated(null);
    m.reset();
  }, [nvr]);
  const close = () => {
    setCreated(null);
    onClose();
  };
  return (
    <Dialog open={!!nvr} onClose={close} title={`Agent key for ${nvr?.deviceName || nvr?.hostname || 'NVR'}`}>
      <div className="space-y-3 text-sm">
        {!created && (
          <>
            <p>
              The <code>beholder nvr-agent</code> at the site connects with a key bound to this NVR. A new key is shown once; keep it
              somewhere safe (existing keys keep working until revoked).
            </p>
            {m.isError && <ErrorState message={errorMessage(m.error)} />}
            <div className="flex justify-end gap-2">
              <Button onClick={close}>Cancel</Button>
              <Button variant="primary" onClick={() => m.mutate()} disabled={m.isPending}>
                <KeyRound aria-hidden="true" className="h-4 w-4" /> Create key
              </Button>
            </div>
          </>
        )}
        {created && (
          <>
            <p role="status" className="rounded-md border border-amber-800/60 bg-amber-950/40 p-2 text-amber-200">
              This key is shown only now. Copy it before closing this window.
            </p>
            <CopyField label="Key" value={created.key} />
            <CopyField label="Install command" value={created.installCommand} />
            <div className="flex justify-end">
              <Button variant="primary" onClick={close}>
                Done
              </Button>
            </div>
          </>
        )}
      </div>
    </Dialog>
  );
}
