import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { Toaster } from 'sonner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Camera, Worker } from '../../api/types';
import { MOVING_DETAIL, isMoving, shortWorkerId } from '../../lib/workers';
import { realtime, realtimeStore } from '../../realtime';
import { statusUpdate } from '../../realtime/__tests__/hubMessages';
import { apiError, camera, fakeNetwork, meRoute, pending, renderApp, signIn, signOutLocally } from '../../test/components';
import { CameraDrawer } from '../CameraDrawer';
import { StatusBadge } from '../CameraStatus';
import { HealthIndicator } from '../HealthIndicator';
import { RealtimeBridge } from '../RealtimeBridge';
import { workerFigures } from '../WorkersSection';

const LONG_A = 'worker-host-a-4242-0a1b2c3d';
const LONG_B = 'worker-host-b-5151-9f8e7d6c';

function worker(id: string, extra: Partial<Worker> = {}): Worker {
  return {
    workerId: id,
    alive: true,
    cameraIds: ['c1', 'c2'],
    sessions: 2,
    leases: 2,
    cpuPercent: 41.6,
    detectorLoad: 0.25,
    droppedSamples: 3,
    egressSessions: 1,
    egressErrors: 0,
    lastHeartbeat: new Date().toISOString(),
    startedAt: null,
    ...extra,
  };
}

beforeEach(() => {
  signIn();
  vi.spyOn(realtime, 'start').mockImplementation(() => undefined);
  vi.spyOn(realtime, 'stop').mockImplementation(() => undefined);
  vi.stubGlobal('URL', Object.assign(class extends URL {}, { createObjectURL: vi.fn(() => 'blob:snap'), revokeObjectURL: vi.fn() }));
});
afterEach(() => {
  cleanup();
  act(() => realtimeStore.reset());
  signOutLocally();
  vi.unstubAllGlobals();
});

function hub(...events: Parameters<typeof realtimeStore.dispatch>[0][]): void {
  act(() => {
    for (const e of events) realtimeStore.dispatch(e);
    realtimeStore.flush();
  });
}

describe('worker ids and moves', () => {
  it('shortens long worker ids and keeps short ones', () => {
    expect(shortWorkerId(LONG_A)).toBe('worker-h…1b2c3d');
    expect(shortWorkerId(LONG_A)).toBe(`${LONG_A.slice(0, 8)}…${LONG_A.slice(-6)}`);
    expect(shortWorkerId('w1')).toBe('w1');
    expect(shortWorkerId(null)).toBe('—');
    expect(shortWorkerId(undefined)).toBe('—');
  });
  it('a move is STARTING with the handover detail, nothing else', () => {
    expect(isMoving('STARTING', MOVING_DETAIL)).toBe(true);
    expect(isMoving('STARTING', 'moving to another worker (rebalance)')).toBe(true);
    expect(isMoving('STARTING', null)).toBe(false);
    expect(isMoving('ERROR', MOVING_DETAIL)).toBe(false);
  });
  it('the status badge shows a move as a neutral "Moving"', () => {
    render(<StatusBadge status="STARTING" detail={MOVING_DETAIL} />);
    const badge = document.querySelector('[data-status="STARTING"]')!;
    expect(badge.textContent).toBe('Moving');
    expect(badge.getAttribute('data-moving')).toBe('true');
    expect(badge.getAttribute('title')).toBe(MOVING_DETAIL);
    cleanup();
    render(<StatusBadge status="STARTING" detail={null} />);
    expect(document.querySelector('[data-status="STARTING"]')!.textContent).toBe('Starting');
  });
  it('workerFigures leaves out what a worker does not report', () => {
    expect(workerFigures(worker('w'))).toBe('2 cameras · 2 sessions · 2 leases · CPU 42 % · detector 25 % · 3 dropped');
    expect(workerFigures(worker('w', { cameraIds: ['c1'], sessions: 1, leases: null, cpuPercent: null, detectorLoad: null, droppedSamples: null }))).toBe('1 camera · 1 session');
  });
});

describe('a camera moving to another worker', () => {
  function mount(cameras: Camera[]) {
    fakeNetwork(meRoute('operator'), ['GET', '/api/alerts', () => ({ items: [] })], ['GET', '/api/cameras', () => ({ items: cameras })], ['GET', /\/mjpeg$/, () => pending()]);
    return renderApp(
      <>
        <RealtimeBridge />
        <CameraDrawer cameraId="m1" onClose={() => undefined} onEdit={vi.fn()} onDelete={vi.fn()} />
        <Toaster />
      </>,
    );
  }

  it('shows the worker in the drawer, a brief neutral status while moving, then the new worker; no toast', async () => {
    mount([camera('m1', { name: 'Gate', status: 'PROCESSING', workerId: LONG_A, updatedAt: '2020-01-01T00:00:00.000Z' })]);
    const where = await screen.findByTestId('drawer-worker');
    expect(where.textContent).toBe(`Worker: ${shortWorkerId(LONG_A)}`);
    expect(within(where).getByTitle(LONG_A)).toBeTruthy();

    hub(statusUpdate('m1', 'STARTING', { details: MOVING_DETAIL, workerId: LONG_A }));
    const moving = document.querySelector('[data-moving="true"]')!;
    expect(moving.textContent).toBe('Moving');
    hub(statusUpdate('m1', 'PROCESSING', { details: null, workerId: LONG_B, timestamp: new Date(Date.now() + 1000).toISOString() }));
    expect(document.querySelector('[data-moving="true"]')).toBeNull();
    expect(document.querySelector('[data-status="PROCESSING"]')).toBeTruthy();
    expect(within(screen.getByTestId('drawer-worker')).getByTitle(LONG_B).textContent).toBe(shortWorkerId(LONG_B));
    // Never an error toast (nor any toast) for a handover.
    expect(document.querySelector('[data-sonner-toast]')).toBeNull();
  });

  it('says when no worker holds the camera', async () => {
    mount([camera('m1', { name: 'Gate', status: 'STOPPED' })]);
    const where = await screen.findByTestId('drawer-worker');
    expect(where.textContent).toBe('Worker: —');
    expect(within(where).getByTitle('No worker holds this camera')).toBeTruthy();
  });
});

describe('workers in the system health view', () => {
  function open(...routes: Parameters<typeof fakeNetwork>) {
    const net = fakeNetwork(meRoute('viewer'), ['GET', '/api/system/health', () => pending()], ...routes);
    renderApp(<HealthIndicator />);
    fireEvent.click(screen.getByRole('button', { name: /System health/ }));
    return net;
  }

  it('lists every worker with its figures, alive or stale, polled from /api/system/workers', async () => {
    const net = open(['GET', '/api/system/workers', () => ({ items: [worker(LONG_A), worker('w-old', { alive: false, cameraIds: [], sessions: 0, leases: 0, lastHeartbeat: new Date(Date.now() - 120_000).toISOString() })] })]);
    const a = await vi.waitFor(() => {
      const el = document.querySelector(`[data-worker="${LONG_A}"]`);
      expect(el).toBeTruthy();
      return el as HTMLElement;
    });
    expect(net.sent('GET', '/api/system/workers')).toHaveLength(1);
    expect(screen.getByRole('heading', { name: 'Workers (1 alive)' })).toBeTruthy();
    expect(a.getAttribute('data-alive')).toBe('true');
    expect(within(a).getByTitle(LONG_A).textContent).toBe(shortWorkerId(LONG_A));
    expect(a.textContent).toContain('alive');
    expect(a.textContent).toContain('2 cameras · 2 sessions · 2 leases · CPU 42 % · detector 25 % · 3 dropped');
    expect(a.textContent).toContain('heartbeat just now');
    const old = document.querySelector('[data-worker="w-old"]') as HTMLElement;
    expect(old.getAttribute('data-alive')).toBe('false');
    expect(old.textContent).toContain('stale');
    expect(old.textContent).toContain('heartbeat 2 minutes ago');
  });

  it('says when there is no worker, and when the list is not available', async () => {
    open(['GET', '/api/system/workers', () => ({ items: [] })]);
    expect(await screen.findByText('No worker has reported yet.')).toBeTruthy();
    cleanup();
    open(['GET', '/api/system/workers', () => apiError(500, 'INTERNAL_ERROR', 'boom')]);
    expect(await screen.findByText(/Workers are not available right now/)).toBeTruthy();
  });
});
