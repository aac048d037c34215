import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamOut } from '../../api/types';
import { apiError, renderPage, sentTo, stubFetch, type Sent } from '../../test/pages';
import StreamsPage from '../StreamsPage';
import { stream } from './streamFixtures';

const server = { list: [] as StreamOut[] | Response, patch: null as Promise<Response> | null, remove: null as Response | null };

function handler(req: Sent) {
  if (req.path === '/api/streams' && req.method === 'GET') return server.list instanceof Response ? server.list.clone() : { items: server.list, nextCursor: null };
  const m = /^\/api\/streams\/([^/]+)$/.exec(req.path);
  if (m && req.method === 'PATCH') {
    if (server.patch) return server.patch;
    const s = (server.list as StreamOut[]).find((x) => x.id === m[1])!;
    return { ...s, ...(req.body as object) };
  }
  if (m && req.method === 'DELETE') return server.remove ?? new Response(null, { status: 204 });
  return undefined;
}

let sent: Sent[];
beforeEach(() => {
  server.list = [
    stream('s1', { deviceName: 'Zulu phone', status: 'offline', lastSeen: null }),
    stream('s2', { deviceName: 'Kitchen tablet', status: 'online', viewers: 1 }),
    stream('s3', { deviceName: 'Gate phone', status: 'streaming', viewers: 2, mlConsumers: 1, metadata: { resolution: '640x480' } }),
    stream('s4', { deviceName: 'Attic phone', status: 'online' }),
  ];
  server.patch = null;
  server.remove = null;
  sent = stubFetch(handler);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function rows(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>('li[data-stream-id]')];
}
function row(id: string): HTMLElement {
  return document.querySelector<HTMLElement>(`li[data-stream-id="${id}"]`)!;
}

describe('Streams page', () => {
  it('lists streaming first, then online, then offline, with counts, viewers and last seen', async () => {
    renderPage(<StreamsPage />, { route: '/streams' });
    await vi.waitFor(() => expect(rows()).toHaveLength(4));
    expect(rows().map((r) => r.getAttribute('data-stream-id'))).toEqual(['s3', 's4', 's2', 's1']);
    expect(sentTo(sent, '/api/streams')[0]?.query).toEqual({ limit: '200' });
    const counts = screen.getByLabelText('Streams per status').textContent;
    expect(counts).toContain('Streaming: 1');
    expect(counts).toContain('Online: 2');
    expect(counts).toContain('Offline: 1');
    expect(within(row('s3')).getByTestId('viewers').textContent).toBe('2 viewers');
    expect(within(row('s2')).getByTestId('viewers').textContent).toBe('1 viewer');
    expect(row('s3').textContent).toContain('640x480');
    expect(row('s3').textContent).toContain('1 ML');
    expect(row('s3').textContent).toContain('Last seen now');
    expect(row('s1').textContent).toContain('Last seen never');
    fireEvent.click(within(row('s3')).getByRole('link', { name: 'View Gate phone' }));
    expect(screen.getByTestId('location').textContent).toBe('/streams/s3');
  });

  it('turns face detection on with a PATCH, and puts the switch back when the server refuses', async () => {
    renderPage(<StreamsPage />);
    const sw = await screen.findByRole('switch', { name: 'Face detection on Kitchen tablet' });
    fireEvent.click(sw);
    await vi.waitFor(() => expect(sentTo(sent, '/api/streams/s2', 'PATCH')).toHaveLength(1));
    expect(sentTo(sent, '/api/streams/s2', 'PATCH')[0]?.body).toEqual({ faceDetectionEnabled: true });
    await vi.waitFor(() => expect(screen.getByRole('switch', { name: 'Face detection on Kitchen tablet' }).getAttribute('aria-checked')).toBe('true'));

    let refuse!: () => void;
    server.patch = new Promise((r) => (refuse = () => r(apiError(403, 'FORBIDDEN', 'Only the owner can change this stream.'))));
    fireEvent.click(screen.getByRole('switch', { name: 'Face detection on Attic phone' }));
    // On at once, before the server answers…
    await vi.waitFor(() => expect(screen.getByRole('switch', { name: 'Face detection on Attic phone' }).getAttribute('aria-checked')).toBe('true'));
    // …and off again when it refuses.
    refuse();
    await vi.waitFor(() => expect(screen.getByRole('switch', { name: 'Face detection on Attic phone' }).getAttribute('aria-checked')).toBe('false'));
  });

  it('deletes a stream after confirmation and shows a refusal in the dialog', async () => {
    renderPage(<StreamsPage />);
    fireEvent.click(await screen.findByRole('button', { name: 'Delete Gate phone' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete stream' });
    expect(dialog.textContent).toContain('Delete Gate phone?');
    server.remove = apiError(403, 'FORBIDDEN', 'Only the owner can delete this stream.');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    expect((await within(dialog).findByRole('alert')).textContent).toContain('Only the owner can delete this stream.');
    expect(row('s3')).toBeTruthy();

    server.remove = null;
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    await vi.waitFor(() => expect(rows().map((r) => r.getAttribute('data-stream-id'))).toEqual(['s4', 's2', 's1']));
    expect(sentTo(sent, '/api/streams/s3', 'DELETE')).toHaveLength(2);
    expect(within(dialog).queryByRole('alert')).toBeNull();
  });

  it('cancelling the dialog deletes nothing', async () => {
    renderPage(<StreamsPage />);
    fireEvent.click(await screen.findByRole('button', { name: 'Delete Zulu phone' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete stream' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(sent.filter((r) => r.method === 'DELETE')).toEqual([]);
    expect(rows()).toHaveLength(4);
  });

  it('points to /publish when there is no stream, and shows a failure with Retry', async () => {
    server.list = [];
    const first = renderPage(<StreamsPage />);
    await screen.findByText(/No streams yet/);
    expect(screen.getAllByRole('link', { name: /publish/i }).map((a) => a.getAttribute('href'))).toContain('/publish');
    first.unmount();

    server.list = apiError(500, 'INTERNAL', 'The stream list is unavailable right now.');
    renderPage(<StreamsPage />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The stream list is unavailable right now.');
    server.list = [stream('s9', { deviceName: 'Recovered' })];
    fireEvent.click(within(alert).getByRole('button', { name: 'Retry' }));
    await screen.findByRole('link', { name: 'Recovered' });
  });
});
