/**
 * Error boundaries (react-error-boundary): a crash in one tile, drawer or page shows a short
 * message with Retry in its place, and is reported (ErrorBoundaryReport), instead of
 * unmounting the whole app. Kept free of ./ui imports because ui.tsx's Dialog uses it.
 */
import { AlertTriangle, RotateCw } from 'lucide-react';
import { useCallback, useState, type ReactNode } from 'react';
import { ErrorBoundary as LibraryBoundary, getErrorMessage, type FallbackProps } from 'react-error-boundary';
import { reportClientError } from './ErrorBoundaryReport';

type Variant = 'tile' | 'panel' | 'page' | 'app';

const FRAME: Record<Variant, string> = {
  tile: 'flex aspect-video flex-col items-center justify-center gap-2 rounded-lg border border-red-900/60 bg-slate-900 p-3 text-center',
  panel: 'flex flex-col items-start gap-2 rounded-md border border-red-900/60 bg-red-950/30 p-3',
  page: 'mx-auto flex max-w-xl flex-col items-start gap-3 rounded-lg border border-red-900/60 bg-red-950/30 p-4',
  app: 'mx-auto mt-16 flex max-w-xl flex-col items-start gap-3 rounded-lg border border-red-900/60 bg-red-950/30 p-6',
};

export function ErrorFallback({ error, resetErrorBoundary, what, errorId, variant }: FallbackProps & { what: string; errorId: string | null; variant: Variant }) {
  return (
    <div role="alert" data-testid="error-fallback" className={FRAME[variant]}>
      <p className="flex items-center gap-2 text-sm font-medium text-red-200">
        <AlertTriangle aria-hidden="true" className="h-5 w-5 shrink-0 text-red-400" />
        {`${what} could not be displayed.`}
      </p>
      <button
        type="button"
        onClick={() => resetErrorBoundary()}
        className="inline-flex items-center gap-1.5 rounded-md border border-slate-700 bg-slate-800 px-3 py-1.5 text-sm font-medium text-slate-100 hover:bg-slate-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-cyan-400"
      >
        <RotateCw aria-hidden="true" className="h-4 w-4" /> Retry
      </button>
      <details className="max-w-full text-left text-xs text-slate-400">
        <summary className="cursor-pointer select-none">Details</summary>
        <p className="mt-1 break-words font-mono">{getErrorMessage(error) ?? String(error)}</p>
        {errorId && (
          <p className="mt-1">
            Error id <code className="select-all text-slate-300" data-testid="error-id">{errorId}</code> (quote it to support)
          </p>
        )}
      </details>
    </div>
  );
}

/**
 * Catches render errors below it. `what` names the part for the message ("This camera
 * tile"); `resetKeys` clear the error when they change (e.g. the route); Retry re-renders.
 */
export function Boundary({ what, variant = 'panel', resetKeys, children }: { what: string; variant?: Variant; resetKeys?: unknown[]; children: ReactNode }) {
  const [errorId, setErrorId] = useState<string | null>(null);
  const onError = useCallback((error: unknown, info: { componentStack?: string | null }) => {
    setErrorId(null);
    void reportClientError(error, info.componentStack).then(setErrorId);
  }, []);
  return (
    <LibraryBoundary
      onError={onError}
      {...(resetKeys ? { resetKeys } : {})}
      fallbackRender={(props) => <ErrorFallback {...props} what={what} errorId={errorId} variant={variant} />}
    >
      {children}
    </LibraryBoundary>
  );
}
