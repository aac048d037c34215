import { Loader2, RotateCw, X } from 'lucide-react';
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { Boundary } from './ErrorBoundary';

export function cx(...c: (string | false | null | undefined)[]): string {
  return c.filter(Boolean).join(' ');
}

export const btn = {
  base: 'inline-flex items-center justify-center gap-1.5 rounded-md text-sm font-medium transition-colors focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-cyan-400 disabled:opacity-50 disabled:cursor-not-allowed',
  primary: 'bg-cyan-600 hover:bg-cyan-500 text-white px-3 py-1.5',
  secondary: 'bg-slate-800 hover:bg-slate-700 text-slate-100 border border-slate-700 px-3 py-1.5',
  ghost: 'hover:bg-slate-800 text-slate-200 px-2 py-1.5',
  danger: 'bg-red-600 hover:bg-red-500 text-white px-3 py-1.5',
  icon: 'hover:bg-slate-800 text-slate-200 p-1.5',
};

export function Button({ variant = 'secondary', className, ...rest }: React.ButtonHTMLAttributes<HTMLButtonElement> & { variant?: keyof typeof btn }) {
  return <button type="button" className={cx(btn.base, btn[variant], className)} {...rest} />;
}

export function Dot({ color, className, pulse }: { color: string; className?: string; pulse?: boolean }) {
  return (
    <span aria-hidden="true" className={cx('relative inline-flex h-2.5 w-2.5 shrink-0 rounded-full', color, className)}>
      {pulse && <span className={cx('absolute inset-0 animate-ping rounded-full opacity-60', color)} />}
    </span>
  );
}

export function Spinner({ label, className }: { label?: string; className?: string }) {
  return (
    <span role="status" className={cx('inline-flex items-center gap-2 text-sm text-slate-300', className)}>
      <Loader2 aria-hidden="true" className="h-4 w-4 animate-spin" />
      {label ?? <span className="sr-only">Loading</span>}
    </span>
  );
}

/** The server's user-safe message, and a retry button when retrying makes sense. */
export function ErrorState({ message, onRetry, className }: { message: string; onRetry?: () => void; className?: string }) {
  return (
    <div role="alert" className={cx('flex flex-wrap items-center gap-3 rounded-md border border-red-900/60 bg-red-950/40 p-3 text-sm text-red-200', className)}>
      <span>{message}</span>
      {onRetry && (
        <Button variant="secondary" onClick={onRetry}>
          <RotateCw aria-hidden="true" className="h-4 w-4" /> Retry
        </Button>
      )}
    </div>
  );
}

export function Switch({ checked, onChange, label, disabled, className }: { checked: boolean; onChange: (v: boolean) => void; label: string; disabled?: boolean; className?: string }) {
  return (
    <button
      type="button"
      role="switch"
      aria-checked={checked}
      aria-label={label}
      title={label}
      disabled={disabled}
      onClick={() => onChange(!checked)}
      className={cx(
        'relative inline-flex h-5 w-9 shrink-0 items-center rounded-full transition-colors focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-cyan-400 disabled:opacity-50',
        checked ? 'bg-cyan-600' : 'bg-slate-600',
        className,
      )}
    >
      <span aria-hidden="true" className={cx('inline-block h-4 w-4 rounded-full bg-white transition-transform', checked ? 'translate-x-4' : 'translate-x-0.5')} />
    </button>
  );
}

/**
 * A native <dialog> shown modally (focus trap, Escape, inert background for free).
 * side="right" makes it a drawer sliding in from the right.
 */
export function Dialog({
  open,
  onClose,
  title,
  children,
  side = 'center',
  className,
  actions,
}: {
  open: boolean;
  onClose: () => void;
  title: ReactNode;
  children: ReactNode;
  side?: 'center' | 'right';
  className?: string;
  actions?: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      if (typeof d.showModal === 'function') d.showModal();
      else d.setAttribute('open', '');
    } else if (!open && d.open) {
      if (typeof d.close === 'function') d.close();
      else d.removeAttribute('open');
    }
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
      className={cx(
        'bg-slate-900 text-slate-100 shadow-2xl backdrop:bg-black/60 p-0',
        side === 'right'
          ? 'drawer m-0 ml-auto h-dvh max-h-none w-full max-w-md border-l border-slate-800'
          : 'm-auto w-[min(42rem,calc(100vw-2rem))] rounded-lg border border-slate-700',
        className,
      )}
    >
      {open && (
        <div className="flex h-full max-h-[inherit] flex-col">
          <div className="flex items-center gap-2 border-b border-slate-800 px-4 py-3">
            <h2 id={titleId} className="min-w-0 flex-1 truncate text-base font-semibold">
              {title}
            </h2>
            {actions}
            <Button variant="icon" aria-label="Close" onClick={onClose}>
              <X aria-hidden="true" className="h-5 w-5" />
            </Button>
          </div>
          <div className="min-h-0 flex-1 overflow-y-auto p-4">
            <Boundary what="This panel">{children}</Boundary>
          </div>
        </div>
      )}
    </dialog>
  );
}

export function ConfirmDialog({
  open,
  title,
  body,
  confirmLabel,
  onConfirm,
  onClose,
  busy,
  error,
}: {
  open: boolean;
  title: string;
  body: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
  busy?: boolean;
  error?: string | null;
}) {
  return (
    <Dialog open={open} onClose={onClose} title={title}>
      <div className="space-y-4 text-sm">
        <div>{body}</div>
        {error && <ErrorState message={error} />}
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="danger" onClick={onConfirm} disabled={busy}>
            {busy && <Loader2 aria-hidden="true" className="h-4 w-4 animate-spin" />}
            {confirmLabel}
          </Button>
        </div>
      </div>
    </Dialog>
  );
}
