import type { ReactNode } from 'react';
import { errorMessage } from '../api/http';
import type { CursorPages } from '../lib/useCursorPages';
import { Button, ErrorState, Spinner } from './ui';

/**
 * The states around a list read page by page (`useCursorPages`): a spinner with
 * `loadingLabel` while the first page loads; the server's error with a Retry (that asks
 * again) when nothing could be loaded; `emptyText` when the server has no item; else
 * `children` (the list itself), then the error of a next page with a Retry of that page, and
 * "Load more" while there is a next page.
 */
export function PagedList<T>({ pages, loadingLabel, emptyText, children }: { pages: CursorPages<T>; loadingLabel: string; emptyText: string; children: ReactNode }) {
  const { query: q, items } = pages;
  return (
    <>
      {q.isPending && <Spinner label={loadingLabel} />}
      {q.isError && !items.length && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.refetch()} />}
      {q.isSuccess && !items.length && <p className="py-6 text-center text-sm text-slate-400">{emptyText}</p>}
      {items.length > 0 && children}
      {q.isError && items.length > 0 && <ErrorState message={errorMessage(q.error)} onRetry={() => void q.fetchNextPage()} />}
      {q.hasNextPage && (
        <div className="flex justify-center">
          <Button onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>
            {q.isFetchingNextPage ? 'Loading…' : 'Load more'}
          </Button>
        </div>
      )}
    </>
  );
}
