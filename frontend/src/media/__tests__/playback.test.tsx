import { act, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../api/http';
import { apiError, fakeNetwork, mjpegResponse, signIn, signOutLocally } from '../../test/components';
import { playMjpeg } from '../mjpeg';
import { useAuthedImage } from '../useAuthedImage';

beforeEach(() => signIn());
afterEach(() => {
  signOutLocally();
  vi.unstubAllGlobals();
});

/** The bytes of a Blob (jsdom's Blob, made by the page, has no arrayBuffer(); fetch's has). */
function bytesOf(b: Blob): Promise<number[]> {
  if (typeof b.arrayBuffer === 'function') return b.arrayBuffer().then((a) => [...new Uint8Array(a)]);
  return new Promise((resolve) => {
    const r = new FileReader();
    r.onload = () => resolve([...new Uint8Array(r.result as ArrayBuffer)]);
    r.readAsArrayBuffer(b);
  });
}

describe('MJPEG playback', () => {
  it('hands each JPEG of the multipart stream to the page, with the bearer token', async () => {
    const net = fakeNetwork(['GET', '/api/cameras/c1/mjpeg', () => mjpegResponse([[0xff, 0xd8, 1, 0xff, 0xd9], [0xff, 0xd8, 2, 0xff, 0xd9]])]);
    const frames: Blob[] = [];
    await playMjpeg('/api/cameras/c1/mjpeg', (b) => frames.push(b), new AbortController().signal);
    expect(await Promise.all(frames.map(bytesOf))).toEqual([[0xff, 0xd8, 1, 0xff, 0xd9], [0xff, 0xd8, 2, 0xff, 0xd9]]);
    expect(frames[0]!.type).toBe('image/jpeg');
    expect(net.requests[0]!.headers).toMatchObject({ Accept: 'multipart/x-mixed-replace, image/jpeg', Authorization: 'Bearer access-1' });
  });

  it('takes a single JPEG answer as one frame', async () => {
    fakeNetwork(['GET', '/snap', () => new Response(new Uint8Array([0xff, 0xd8, 7]), { headers: { 'Content-Type': 'image/jpeg' } })]);
    const frames: Blob[] = [];
    await playMjpeg('/snap', (b) => frames.push(b), new AbortController().signal);
    expect(frames).toHaveLength(1);
    expect(await bytesOf(frames[0]!)).toEqual([0xff, 0xd8, 7]);
  });

  it("fails with the server's error, or on an answer that is not MJPEG", async () => {
    fakeNetwork(['GET', '/denied', () => apiError(403, 'FORBIDDEN', 'Viewers may not watch this camera.')], ['GET', '/html', () => new Response('<html>', { headers: { 'Content-Type': 'text/html' } })]);
    const denied = await playMjpeg('/denied', () => undefined, new AbortController().signal).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ApiError);
    expect((denied as ApiError).message).toBe('Viewers may not watch this camera.');
    await expect(playMjpeg('/html', () => undefined, new AbortController().signal)).rejects.toThrow('Not an MJPEG stream.');
  });
});

describe('authenticated images', () => {
  beforeEach(() => {
    let n = 0;
    vi.stubGlobal('URL', Object.assign(class extends URL {}, { createObjectURL: vi.fn(() => `blob:img-${++n}`), revokeObjectURL: vi.fn() }));
  });

  it('loads the image with the bearer token as an object URL and revokes it on unmount', async () => {
    const net = fakeNetwork(['GET', '/api/alerts/a1/snapshot.jpg', () => new Response(new Uint8Array([1, 2]), { headers: { 'Content-Type': 'image/jpeg' } })]);
    const { result, unmount } = renderHook(() => useAuthedImage('/api/alerts/a1/snapshot.jpg'));
    expect(result.current.loading).toBe(true);
    await waitFor(() => expect(result.current.url).toBe('blob:img-1'));
    expect(result.current.loading).toBe(false);
    expect(result.current.error).toBeNull();
    expect(net.requests[0]!.headers).toMatchObject({ Accept: 'image/*', Authorization: 'Bearer access-1' });
    unmount();
    expect(URL.revokeObjectURL).toHaveBeenCalledWith('blob:img-1');
  });

  it('shows a readable error and loads again on retry', async () => {
    let fail = true;
    const net = fakeNetwork(['GET', '/img', () => (fail ? apiError(404, 'NOT_FOUND', 'This alert has no snapshot.') : new Response(new Uint8Array([1])))]);
    const { result } = renderHook(() => useAuthedImage('/img'));
    await waitFor(() => expect(result.current.error).toBe('This alert has no snapshot.'));
    expect(result.current.url).toBeNull();
    fail = false;
    act(() => result.current.retry());
    await waitFor(() => expect(result.current.url).not.toBeNull());
    expect(result.current.error).toBeNull();
    expect(net.requests).toHaveLength(2);
  });

  it('stops loading when the path goes away while the image is on its way', async () => {
    fakeNetwork(['GET', '/slow', () => new Promise(() => undefined)]);
    const { result, rerender } = renderHook(({ path }: { path: string | null }) => useAuthedImage(path), { initialProps: { path: '/slow' as string | null } });
    expect(result.current.loading).toBe(true);
    rerender({ path: null }); // e.g. the alert turned out to have no snapshot
    expect(result.current).toMatchObject({ url: null, error: null, loading: false });
  });

  it('requests nothing without a path', () => {
    const net = fakeNetwork();
    const { result } = renderHook(() => useAuthedImage(null));
    expect(result.current).toMatchObject({ url: null, error: null, loading: false });
    expect(net.requests).toHaveLength(0);
  });
});
