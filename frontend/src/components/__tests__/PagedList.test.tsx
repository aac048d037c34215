import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Page } from '../../api/types';
import { localDateTimeToIso } from '../../lib/format';
import { useCursorPages } from '../../lib/useCursorPages';
import { FilterForm, FilterSelect, TimeRangeFilter } from '../ListFilters';
import { PagedList } from '../PagedList';

interface Query {
  kind?: string;
  cursor?: string | null;
}

/** A server list of pages by cursor ('' is the first; no letter is of a kind); each answer waits until the test lets it go. */
function fakeServer(pages: Record<string, Page<string>>) {
  const asked: Query[] = [];
  const waiting: { resolve: () => void; reject: () => void }[] = [];
  const fetchPage = vi.fn((q: Query) => {
    asked.push(q);
    return new Promise<Page<string>>((resolve, reject) => {
      waiting.push({ resolve: () => resolve((q.kind ? undefined : pages[q.cursor ?? '']) ?? { items: [] }), reject: () => reject(new Error('down')) });
    });
  });
  const answer = async (how: 'resolve' | 'reject' = 'resolve') => {
    await vi.waitFor(() => expect(waiting.length).toBeGreaterThan(0));
    waiting.shift()![how]();
  };
  return { asked, fetchPage, answer };
}

function Letters({ fetchPage }: { fetchPage: (q: Query) => Promise<Page<string>> }) {
  const [kind, setKind] = useState('');
  const filters = kind ? { kind } : {};
  const pages = useCursorPages<string, Query>(['letters'], filters, fetchPage);
  return (
    <div>
      <FilterForm label="Filter letters">
        <FilterSelect label="Kind" value={kind} onChange={setKind} options={['vowel', 'consonant']} />
      </FilterForm>
      <PagedList pages={pages} loadingLabel="Loading letters…" emptyText="No letter matches these filters.">
        <ul aria-label="Letters">
          {pages.items.map((l) => (
            <li key={l}>{l}</li>
          ))}
        </ul>
      </PagedList>
    </div>
  );
}

function renderLetters(fetchPage: (q: Query) => Promise<Page<string>>) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <Letters fetchPage={fetchPage} />
    </QueryClientProvider>,
  );
}

const letters = () => within(screen.getByRole('list', { name: 'Letters' })).getAllByRole('listitem').map((li) => li.textContent);

afterEach(cleanup);

describe('useCursorPages with PagedList', () => {
  it('loads the first page, then each next one by its cursor on "Load more" until there is none', async () => {
    const server = fakeServer({ '': { items: ['a', 'b'], nextCursor: 'p2' }, p2: { items: ['c'], nextCursor: '' } });
    renderLetters(server.fetchPage);
    expect(screen.getByRole('status').textContent).toContain('Loading letters…');
    await server.answer();
    await screen.findByRole('list', { name: 'Letters' });
    expect(letters()).toEqual(['a', 'b']);
    expect(server.asked).toEqual([{}]);

    fireEvent.click(screen.getByRole('button', { name: 'Load more' }));
    const busy = await screen.findByRole('button', { name: 'Loading…' });
    expect((busy as HTMLButtonElement).disabled).toBe(true);
    expect(server.asked.at(-1)).toEqual({ cursor: 'p2' });
    await server.answer();
    await vi.waitFor(() => expect(letters()).toEqual(['a', 'b', 'c']));
    // An empty nextCursor ends the list.
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
    expect(screen.queryByRole('status')).toBeNull();
  });

  it('shows the error with a Retry that asks for the first page again when nothing loaded', async () => {
    const server = fakeServer({ '': { items: ['a'], nextCursor: null } });
    renderLetters(server.fetchPage);
    await server.answer('reject');
    const box = await screen.findByRole('alert');
    expect(box.textContent).toContain('Something went wrong. Please try again.');
    expect(screen.queryByRole('list', { name: 'Letters' })).toBeNull();
    fireEvent.click(within(box).getByRole('button', { name: 'Retry' }));
    await server.answer();
    await screen.findByRole('list', { name: 'Letters' });
    expect(server.asked).toEqual([{}, {}]);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('keeps what loaded when a next page fails, and its Retry asks for that page again', async () => {
    const server = fakeServer({ '': { items: ['a'], nextCursor: 'p2' }, p2: { items: ['b'], nextCursor: null } });
    renderLetters(server.fetchPage);
    await server.answer();
    fireEvent.click(await screen.findByRole('button', { name: 'Load more' }));
    await server.answer('reject');
    const box = await screen.findByRole('alert');
    expect(letters()).toEqual(['a']);
    fireEvent.click(within(box).getByRole('button', { name: 'Retry' }));
    await server.answer();
    await vi.waitFor(() => expect(letters()).toEqual(['a', 'b']));
    expect(server.asked).toEqual([{}, { cursor: 'p2' }, { cursor: 'p2' }]);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('starts again from the first page when the filters change, and says when nothing matches', async () => {
    const server = fakeServer({ '': { items: ['a'], nextCursor: 'p2' } });
    renderLetters(server.fetchPage);
    await server.answer();
    await screen.findByRole('list', { name: 'Letters' });
    const form = screen.getByRole('search', { name: 'Filter letters' });
    const select = within(form).getByRole('combobox', { name: 'Kind' });
    expect(within(select).getAllByRole('option').map((o) => o.textContent)).toEqual(['Any', 'vowel', 'consonant']);
    fireEvent.change(select, { target: { value: 'vowel' } });
    await vi.waitFor(() => expect(server.asked.at(-1)).toEqual({ kind: 'vowel' }));
    await server.answer();
    await screen.findByText('No letter matches these filters.');
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
    // The filter bar applies as it changes: submitting it (Enter) does not navigate.
    expect(fireEvent.submit(form)).toBe(false);
  });
});

describe('filters', () => {
  it('words the options with optionLabel and reports From/To as typed', () => {
    const onChange = vi.fn();
    const onFrom = vi.fn();
    const onTo = vi.fn();
    render(
      <FilterForm label="Filter">
        <FilterSelect label="Target" value="api_key" onChange={onChange} options={['camera', 'api_key']} optionLabel={(t) => t.replace('_', ' ')} />
        <TimeRangeFilter from="2030-01-01T00:00" to="" onFromChange={onFrom} onToChange={onTo} />
      </FilterForm>,
    );
    const target = screen.getByRole('combobox', { name: 'Target' }) as HTMLSelectElement;
    expect([...target.options].map((o) => [o.value, o.textContent])).toEqual([
      ['', 'Any'],
      ['camera', 'camera'],
      ['api_key', 'api key'],
    ]);
    expect(target.value).toBe('api_key');
    fireEvent.change(target, { target: { value: '' } });
    expect(onChange).toHaveBeenCalledWith('');
    expect((screen.getByLabelText('From') as HTMLInputElement).value).toBe('2030-01-01T00:00');
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '2030-01-02T00:00' } });
    fireEvent.change(screen.getByLabelText('To'), { target: { value: '2030-01-03T00:00' } });
    expect(onFrom).toHaveBeenCalledWith('2030-01-02T00:00');
    expect(onTo).toHaveBeenCalledWith('2030-01-03T00:00');
  });

  it('localDateTimeToIso turns a local date-time into an instant, and nothing else', () => {
    expect(localDateTimeToIso('2030-01-01T00:00')).toBe(new Date('2030-01-01T00:00').toISOString());
    expect(localDateTimeToIso('')).toBeUndefined();
    expect(localDateTimeToIso('not a date')).toBeUndefined();
  });
});
