import { useInfiniteQuery, type InfiniteData, type UseInfiniteQueryResult } from '@tanstack/react-query';
import { useMemo } from 'react';
import type { Page } from '../api/types';

/** A list the server hands out page by page: the query (for its states) and every item loaded so far. */
export interface CursorPages<T> {
  query: UseInfiniteQueryResult<InfiniteData<Page<T>>>;
  /** The items of all pages loaded so far, in the server's order. */
  items: T[];
}

/**
 * A server list read with cursor pagination (`{items, nextCursor}`): the first page is asked
 * for with `filters` as they are, each next one with `filters` plus the `cursor` the previous
 * page returned; there is a next page while `nextCursor` is a non-empty string. The query key
 * is `[...key, filters]`, so a change of filters starts again from the first page (and
 * invalidating `key` reloads the list). A failed page is the query's error (`query.isError`);
 * nothing is thrown.
 */
export function useCursorPages<T, Q extends { cursor?: string | null }>(
  key: readonly unknown[],
  filters: Q,
  fetchPage: (query: Q) => Promise<Page<T>>,
): CursorPages<T> {
  const query = useInfiniteQuery({
    queryKey: [...key, filters],
    queryFn: ({ pageParam }) => fetchPage(pageParam ? { ...filters, cursor: pageParam } : filters),
    initialPageParam: '',
    getNextPageParam: (last) => last.nextCursor || undefined,
  });
  const items = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);
  return { query, items };
}
