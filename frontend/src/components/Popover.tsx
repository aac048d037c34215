import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { cx } from './ui';

/** A button with a panel below it; closes on Escape and outside click. */
export function Popover({ label, button, children, className, panelClassName }: { label: string; button: ReactNode; children: ReactNode; className?: string; panelClassName?: string }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  const ref = useRef<HTMLDivElement>(null);
  const btnRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        btnRef.current?.focus();
      }
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);
  return (
    <div ref={ref} className={cx('relative', className)}>
      <button
        ref={btnRef}
        type="button"
        aria-label={label}
        aria-expanded={open}
        aria-controls={id}
        onClick={() => setOpen((o) => !o)}
        className="inline-flex items-center gap-1.5 rounded-md px-2 py-1.5 text-sm hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-cyan-400"
      >
        {button}
      </button>
      {open && (
        <div id={id} role="dialog" aria-label={label} className={cx('absolute right-0 top-full z-40 mt-1 w-72 rounded-lg border border-slate-700 bg-slate-900 p-3 shadow-xl', panelClassName)}>
          {children}
        </div>
      )}
    </div>
  );
}
