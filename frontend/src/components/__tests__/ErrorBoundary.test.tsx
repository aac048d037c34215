import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Camera } from '../../api/types';

// The tile of the camera named in `crash.name` throws while `crash.on` is set.
const crash = vi.hoisted(() => ({ name: 'Garage', on: true }));
vi.mock('../CameraTile', () => ({
  CameraTile: ({ camera }: { camera: Camera }) => {
    if (crash.on && camera.name === crash.name) throw new TypeError(`cannot read 'status' of ${camera.name}`);
    return <article data-testid="camera-tile">{camera.name}</article>;
  },
}));
vi.mock('../../auth/auth', () => ({ usePermissions: () => ({ control: false, acknowledge: false, admin: false, known: true }) }));

import { tokens } from '../../auth/tokens';
import { DashboardPage } from '../../pages/DashboardPage';
import { buildReport, LIMITS, MAX_REPORTS, reportClientError, resetClientErrorReports } from '../ErrorBoundaryReport';

function camera(id: string, name: string): Camera {
  return { id, name, rtspUrl: 'rtsp://cam/1', location: null, enabled: true, status: 'OFFLINE', faceDetectionEnabled: false } as unknown as Camera;
}

type Call = { url: string; init: RequestInit | undefined };
let calls: Call[] = [];
const reports = () => calls.filter((c) => c.url === '/api/client-errors');

function signedIn(yes: boolean) {
  vi.spyOn(tokens, 'get').mockReturnValue(yes ? ({ accessToken: 't', refreshToken: 'r', expiresAt: Date.now() + 600_000 } as never) : null);
  vi.spyOn(tokens, 'fresh').mockResolvedValue(yes ? 't' : null);
}

beforeEach(() => {
  calls = [];
  crash.on = true;
  resetClientErrorReports();
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      calls.push({ url, init });
      if (url === '/api/cameras') {
        const items = [camera('c1', 'Front door'), camera('c2', 'Garage'), camera('c3', 'Yard')];
        return new Response(JSON.stringify({ items }), { status: 200 });
      }
      if (url === '/api/client-errors') return new Response(JSON.stringify({ correlationId: 'cid-42' }), { status: 202 });
      return new Response('{}', { status: 404 });
    }),
  );
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function renderDashboard() {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={['/']}>
        <DashboardPage />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('error boundaries', () => {
  it('a crashing tile shows a fallback with Retry, the other tiles keep rendering, and it is reported once', async () => {
    signedIn(true);
    renderDashboard();
    const fallback = await screen.findByTestId('error-fallback');
    expect(fallback.textContent).toContain('The tile of Garage could not be displayed.');
    expect(screen.getAllByTestId('camera-tile').map((t) => t.textContent)).toEqual(['Front door', 'Yard']);
    // The server's correlation id is shown for support.
    expect((await within(fallback).findByTestId('error-id')).textContent).toBe('cid-42');
    expect(reports()).toHaveLength(1);
    const body = JSON.parse(String(reports()[0]!.init!.body)) as Record<string, string>;
    expect(body.message).toBe("cannot read 'status' of Garage");
    expect(body.route).toBe('/');
    expect(body.componentStack).toContain('DashboardPage');
    expect(new Headers(reports()[0]!.init!.headers).get('Authorization')).toBe('Bearer t');
    expect(console.error).toHaveBeenCalled();

    // Retry while the cause persists: the same fallback, and the same crash is not re-sent.
    fireEvent.click(within(fallback).getByRole('button', { name: 'Retry' }));
    expect((await screen.findByTestId('error-fallback')).textContent).toContain('Garage');
    expect(reports()).toHaveLength(1);

    // Once the cause is gone, Retry renders the tile again.
    crash.on = false;
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(screen.queryByTestId('error-fallback')).toBeNull();
    expect(screen.getAllByTestId('camera-tile').map((t) => t.textContent)).toEqual(['Front door', 'Garage', 'Yard']);
    expect(reports()).toHaveLength(1);
  });

  it('signed out, a crash is logged to the console only', async () => {
    signedIn(false);
    renderDashboard();
    const fallback = await screen.findByTestId('error-fallback');
    expect(within(fallback).getByRole('button', { name: 'Retry' })).toBeTruthy();
    expect(await reportClientError(new Error('again'))).toBeNull();
    expect(reports()).toHaveLength(0);
    expect(console.error).toHaveBeenCalled();
  });

  it('reports are truncated to the limits and capped per page load', async () => {
    signedIn(true);
    const e = new Error('m'.repeat(5000));
    e.stack = 's'.repeat(10_000);
    const r = buildReport(e, 'c'.repeat(10_000));
    expect(r.message).toHaveLength(LIMITS.message);
    expect(r.stack).toHaveLength(LIMITS.stack);
    expect(r.componentStack).toHaveLength(LIMITS.componentStack);
    expect(buildReport('a plain string', null).message).toBe('a plain string');
    for (let i = 0; i < MAX_REPORTS + 5; i++) await reportClientError(new Error(`crash ${i}`));
    expect(reports()).toHaveLength(MAX_REPORTS);
  });
});
