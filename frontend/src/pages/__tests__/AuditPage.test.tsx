import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuditEvent, AuditQuery } from '../../audit/api';

const calls = vi.hoisted(() => ({ queries: [] as Record<string, unknown>[], pages: new Map<string, { items: unknown[]; nextCursor: string | null }>() }));
vi.mock('../../audit/api', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../audit/api')>();
  return {
    ...real,
    auditApi: {
      list: (q: AuditQuery) => {
        calls.queries.push({ ...q });
        return Promise.resolve(calls.pages.get(String(q.cursor ?? '')) ?? { items: [], nextCursor: null });
      },
    },
  };
});
const role = vi.hoisted(() => ({ admin: true }));
vi.mock('../../auth/auth', () => ({
  usePermissions: () => ({ control: role.admin, acknowledge: role.admin, admin: role.admin, known: true }),
}));

import AuditPage from '../AuditPage';

function event(i: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `e${i}`,
    timestamp: new Date(Date.UTC(2030, 0, 1, 0, 0, 0) - i * 1000).toISOString(),
    actorId: 'u1',
    actorName: 'admin',
    principalType: 'user',
    action: 'camera.update',
    targetType: 'camera',
    targetId: `cam-${i}`,
    clientAddress: '10.0.0.7',
    correlationId: `cid-${i}`,
    outcome: 'success',
    details: { changed: ['location', 'rtsp_url'] },
    ...over,
  };
}

// jsdom lays nothing out: give the virtualised list a viewport so that it renders rows.
const sizes = { clientHeight: 600, clientWidth: 1000, offsetHeight: 600, offsetWidth: 1000 };
beforeAll(() => {
  for (const [k, v] of Object.entries(sizes)) {
    Object.defineProperty(HTMLElement.prototype, k, { configurable: true, get: () => v });
  }
});
afterAll(() => {
  // Own properties added above; the originals live further up the prototype chain.
  for (const k of Object.keys(sizes)) Reflect.deleteProperty(HTMLElement.prototype, k);
});
beforeEach(() => {
  calls.queries = [];
  calls.pages.clear();
  role.admin = true;
});
afterEach(cleanup);

/** The events table (rendered once there is a row); option labels of the filter are not in it. */
async function table() {
  return within(await screen.findByRole('table', { name: 'Audit events' }));
}

function renderPage() {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={['/audit']}>
        <AuditPage />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('Audit page', () => {
  it('lists events newest first with actor, target, outcome, address and changed fields', async () => {
    calls.pages.set('', {
      items: [
        event(1, { action: 'auth.sign_in_failed', principalType: 'anonymous', actorId: null, actorName: 'mallory', targetType: null, targetId: null, outcome: 'failure', details: null }),
        event(2),
      ],
      nextCursor: null,
    });
    renderPage();
    const t = await table();
    const failed = await t.findByText('Sign-in failed');
    const row = failed.closest('[role="row"]')!;
    expect(row.getAttribute('data-outcome')).toBe('failure');
    expect(row.textContent).toContain('mallory');
    expect(row.textContent).toContain('anonymous');
    expect(row.textContent).toContain('10.0.0.7');
    const changed = t.getByText('Camera changed').closest('[role="row"]')!;
    expect(changed.textContent).toContain('changed: location, rtsp_url');
    expect(changed.textContent).toContain('camera cam-2');
    const rows = document.querySelectorAll('[data-audit-id]');
    expect([...rows].map((r) => r.getAttribute('data-audit-id'))).toEqual(['e1', 'e2']);
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
  });

  it('sends the filters to the server and follows the cursor on "Load more"', async () => {
    calls.pages.set('', { items: Array.from({ length: 100 }, (_, i) => event(i)), nextCursor: 'c1' });
    calls.pages.set('c1', { items: [event(100, { action: 'user.create', targetType: 'user' })], nextCursor: null });
    renderPage();
    await (await table()).findAllByText('Camera changed');
    expect(calls.queries[0]).toEqual({ limit: 100 });
    fireEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await vi.waitFor(() => expect(calls.queries.some((q) => q.cursor === 'c1')).toBe(true));
    await vi.waitFor(() => expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull());
    expect(document.querySelector('[role="table"]')?.getAttribute('aria-rowcount')).toBe('102');

    calls.pages.clear(); // nothing matches the filters below
    fireEvent.change(screen.getByLabelText('Action'), { target: { value: 'auth.sign_in_failed' } });
    fireEvent.change(screen.getByLabelText('Outcome'), { target: { value: 'failure' } });
    fireEvent.change(screen.getByLabelText('Actor'), { target: { value: ' mallory ' } });
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '2030-01-01T00:00' } });
    await vi.waitFor(() =>
      expect(calls.queries.at(-1)).toMatchObject({ action: 'auth.sign_in_failed', outcome: 'failure', actor: 'mallory', limit: 100 }),
    );
    expect(calls.queries.at(-1)?.from).toBe(new Date('2030-01-01T00:00').toISOString());
    expect(calls.queries.at(-1)?.cursor).toBeUndefined();
    await screen.findByText('No audit event matches these filters.');
  });

  it('asks for the next page by itself when the reader scrolls near the end', async () => {
    calls.pages.set('', { items: Array.from({ length: 12 }, (_, i) => event(i)), nextCursor: 'c1' });
    calls.pages.set('c1', { items: [event(12, { action: 'user.delete' })], nextCursor: null });
    renderPage();
    // 12 rows fit the 600 px viewport: the last is already in view, so the next page follows.
    await (await table()).findByText('User deleted');
    expect(calls.queries.map((q) => q.cursor ?? '')).toEqual(['', 'c1']);
  });

  it('tells a non-admin the trail is for administrators and asks the server nothing', async () => {
    role.admin = false;
    renderPage();
    expect(screen.getByText('Only administrators can see the audit trail.')).toBeTruthy();
    expect(calls.queries).toEqual([]);
  });
});
