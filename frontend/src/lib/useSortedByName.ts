import { useMemo, useRef } from 'react';

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/**
 * `items` sorted by name (natural order: "ch2" before "ch10"). The order is kept while only
 * other fields change (a live status on 8,000 cameras must not re-sort them every frame):
 * a re-sort happens when an item is added, removed or renamed.
 */
export function useSortedByName<T extends { id: string; name: string }>(items: readonly T[] | undefined): T[] {
  const order = useRef<{ names: Map<string, string>; ids: string[] } | null>(null);
  return useMemo(() => {
    const list = items ?? [];
    const prev = order.current;
    if (prev && prev.ids.length === list.length && list.every((c) => prev.names.get(c.id) === c.name)) {
      const byId = new Map(list.map((c) => [c.id, c]));
      return prev.ids.map((id) => byId.get(id)!);
    }
    const sorted = [...list].sort((a, b) => collator.compare(a.name, b.name));
    order.current = { names: new Map(sorted.map((c) => [c.id, c.name])), ids: sorted.map((c) => c.id) };
    return sorted;
  }, [items]);
}
