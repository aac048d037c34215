import { QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, fireEvent, renderHook, screen, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { Toaster } from 'sonner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Page, StreamOut } from '../../api/types';
import { offlineQueue, realtimeStore } from '../../realtime';
import { alert, apiError, camera, fakeNetwork, json, newQueryClient, signIn, signOutLocally, stream } from '../../test/components';
import { mergedStatus, useCameraActions } from '../cameras';
import { mergeStream, streamsKey, useStreamActions, useStreamNames } from '../streams';

beforeEach(() => signIn());
afterEach(() => {
  cleanup();
  signOutLocally();
  vi.unstubAllGlobals();
  act(() => realtimeStore.reset());
});

function setup() {
  const client = newQueryClient();
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>
      {children}
      <Toaster />
    </QueryClientProvider>
  );
  return { client, wrapper };
}

describe('streams', () => {
  it('loads the list (with names), and reloads it when the hub says a stream appeared', async () => {
    let n = 0;
    const net = fakeNetwork(['GET', '/api/streams', () => ({ items: [stream('s1', { deviceName: `Pixel v${++n}` })] })]);
    const { wrapper } = setup();
    const { result } = renderHook(() => ({ names: useStreamNames() }), { wrapper });
    await waitFor(() => expect(result.current.names.get('s1')).toBe('Pixel v1'));
    act(() => {
      realtimeStore.dispatch({ type: 'stream-status-update', streamId: 's2', deviceName: 'New', status: 'online', lastSeen: null, timestamp: '2030-01-01T00:00:00.000Z' });
      realtimeStore.flush();
    });
    await waitFor(() => expect(result.current.names.get('s1')).toBe('Pixel v2'));
    expect(net.sent('GET', '/api/streams').map((r) => r.url)).toEqual(['/api/streams?limit=200', '/api/streams?limit=200']);
  });

  it('the hub overlays a stream unless REST is newer', () => {
    const s = stream('s1', { status: 'online', deviceName: 'Pixel', lastSeen: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:10.000Z' });
    expect(mergeStream(s, undefined)).toBe(s);
    expect(mergeStream(s, { status: 'offline', deviceName: 'Old', lastSeen: null, timestamp: '2030-01-01T00:00:05.000Z' })).toBe(s);
    expect(mergeStream(s, { status: 'streaming', deviceName: '', lastSeen: null, timestamp: '2030-01-01T00:00:20.000Z' })).toMatchObject({ status: 'streaming', deviceName: 'Pixel', lastSeen: '2030-01-01T00:00:00.000Z' });
  });

  it('face detection on a stream: optimistic, saved, undone with a toast when refused', async () => {
    const s1 = stream('s1', { deviceName: 'Pixel', faceDetectionEnabled: false });
    let refuse = false;
    const net = fakeNetwork(['PATCH', '/api/streams/s1', (r) => (refuse ? apiError(403, 'FORBIDDEN', 'Only the owner may change this.') : { ...s1, ...(r.body as object) })]);
    const { client, wrapper } = setup();
    client.setQueryData<Page<StreamOut>>(streamsKey, { items: [s1] });
    const { result } = renderHook(() => useStreamActions(), { wrapper });
    const on = result.current.setFaceDetection(s1, true);
    expect(client.getQueryData<Page<StreamOut>>(streamsKey)!.items[0]!.faceDetectionEnabled).toBe(true); // at once
    await act(() => on);
    expect(net.sent('PATCH')[0]!.body).toEqual({ faceDetectionEnabled: true });
    expect(client.getQueryData<StreamOut>(['stream', 's1'])!.faceDetectionEnabled).toBe(true);
    refuse = true;
    await act(() => result.current.setFaceDetection({ ...s1, faceDetectionEnabled: true }, false));
    expect(client.getQueryData<Page<StreamOut>>(streamsKey)!.items[0]!.faceDetectionEnabled).toBe(true);
    expect(await screen.findByText('Face detection on Pixel: Only the owner may change this.')).toBeTruthy();
  });

  it('deleting a stream removes it from the list and says so', async () => {
    const net = fakeNetwork(['DELETE', '/api/streams/s1', () => json(null, 204)]);
    const { client, wrapper } = setup();
    client.setQueryData<Page<StreamOut>>(streamsKey, { items: [stream('s1', { deviceName: 'Pixel' }), stream('s2')] });
    client.setQueryData(['stream', 's1'], stream('s1'));
    const { result } = renderHook(() => useStreamActions(), { wrapper });
    await act(() => result.current.remove(stream('s1', { deviceName: 'Pixel' })));
    expect(net.sent('DELETE')).toHaveLength(1);
    expect(client.getQueryData<Page<StreamOut>>(streamsKey)!.items.map((s) => s.id)).toEqual(['s2']);
    expect(client.getQueryData(['stream', 's1'])).toBeUndefined();
    expect(await screen.findByText('Stream “Pixel” deleted')).toBeTruthy();
  });
});

describe('camera actions', () => {
  it('the merged status takes the hub only when it is newer than REST', () => {
    const c = camera('c1', { status: 'STOPPED', updatedAt: '2030-01-01T00:00:10.000Z' });
    expect(mergedStatus(c, {})).toBe('STOPPED');
    expect(mergedStatus(c, { c1: { status: 'PROCESSING', errorCode: null, details: null, attempt: null, timestamp: '2030-01-01T00:00:05.000Z' } })).toBe('STOPPED');
    expect(mergedStatus(c, { c1: { status: 'PROCESSING', errorCode: null, details: null, attempt: null, timestamp: '2030-01-01T00:00:20.000Z' } })).toBe('PROCESSING');
  });

  it('a command that fails on the server side offers a retry that sends it again', async () => {
    let n = 0;
    const net = fakeNetwork(['POST', '/api/cameras/c1/restart', () => (n++ === 0 ? apiError(503, 'BUS_UNAVAILABLE', 'The message bus is unreachable.') : json({ status: 'STARTING' }, 202))]);
    const { wrapper } = setup();
    const { result } = renderHook(() => useCameraActions(), { wrapper });
    act(() => result.current.command({ id: 'c1', name: 'Gate' }, 'restart'));
    expect(await screen.findByText('Could not restart Gate: The message bus is unreachable.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(net.sent('POST')).toHaveLength(2));
  });

  it('offline: the command waits, says so, and is sent when the connection is back', async () => {
    let online = false;
    const net = fakeNetwork(['POST', '/api/cameras/c1/stop', () => (online ? json({ status: 'STOPPING' }, 202) : Promise.reject(new TypeError('Failed to fetch')))]);
    const { wrapper } = setup();
    const { result } = renderHook(() => useCameraActions(), { wrapper });
    act(() => result.current.command({ id: 'c1', name: 'Gate' }, 'stop'));
    expect(await screen.findByText('You are offline. “Stop Gate” will be sent when the connection is back.')).toBeTruthy();
    expect(offlineQueue.getSnapshot().map((q) => q.label)).toEqual(['Stop Gate']);
    online = true;
    await act(() => offlineQueue.flush());
    expect(net.sent('POST')).toHaveLength(2);
    await waitFor(() => {
      realtimeStore.flush();
      expect(realtimeStore.getState().cameras.c1?.status).toBe('STOPPING');
    });
  });

  it('acknowledging updates the notification list; a refusal is shown', async () => {
    const a = alert('a1', { cameraId: 'c1' });
    let refuse = false;
    fakeNetwork(['POST', '/api/alerts/a1/acknowledge', () => (refuse ? apiError(403, 'FORBIDDEN', 'Viewers cannot acknowledge.') : { ...a, acknowledgedAt: '2030-01-01T00:01:00.000Z', acknowledgedBy: 'op' })]);
    realtimeStore.seedAlerts([a]);
    const { wrapper } = setup();
    const { result } = renderHook(() => useCameraActions(), { wrapper });
    const done = vi.fn();
    act(() => result.current.acknowledge(a, done));
    await waitFor(() => expect(done).toHaveBeenCalled());
    expect(done.mock.calls[0]![0]).toMatchObject({ id: 'a1', acknowledgedBy: 'op' });
    expect(realtimeStore.getState().alerts[0]!.acknowledgedAt).toBe('2030-01-01T00:01:00.000Z');
    refuse = true;
    act(() => result.current.acknowledge(a));
    expect(await screen.findByText('Could not acknowledge the alert: Viewers cannot acknowledge.')).toBeTruthy();
  });
});
