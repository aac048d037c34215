import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { Toaster } from 'sonner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nvr } from '../../../fleet/__tests__/fleetMessages';

// uPlot (AlertsTimeline) asks matchMedia for the pixel ratio when it loads; jsdom has none.
vi.hoisted(() => {
  if (typeof window.matchMedia !== 'function') {
    window.matchMedia = (media: string) =>
      ({ matches: false, media, onchange: null, addEventListener: () => undefined, removeEventListener: () => undefined, addListener: () => undefined, removeListener: () => undefined, dispatchEvent: () => false }) as MediaQueryList;
  }
});

import { apiError, fakeNetwork, json, meRoute, renderApp, signIn, signOutLocally } from '../../../test/components';
import { timelineData } from '../AlertsTimeline';
import { EventList } from '../EventList';
import { DeleteNvrDialog, NvrFormDialog, NvrKeyDialog } from '../NvrDialogs';

beforeEach(() => signIn());
afterEach(() => {
  cleanup();
  signOutLocally();
  vi.unstubAllGlobals();
});

function field(label: string): HTMLInputElement {
  return screen.getByLabelText(label, { selector: 'input' });
}

function button(name: string): HTMLButtonElement {
  return screen.getByRole('button', { name, hidden: true }) as HTMLButtonElement;
}

describe('NVR form', () => {
  it('adds an NVR: needs a hostname, sends trimmed fields (empty ones as null), toasts and reports it', async () => {
    const net = fakeNetwork(meRoute('admin'), ['POST', '/api/nvrs', (r) => json(nvr('n9', { ...(r.body as object) }), 201)], ['GET', '/api/nvrs', () => ({ items: [] })]);
    const onClose = vi.fn();
    const onCreated = vi.fn();
    renderApp(
      <>
        <NvrFormDialog open nvr={null} onClose={onClose} onCreated={onCreated} />
        <Toaster />
      </>,
    );
    expect(screen.getByRole('heading', { hidden: true }).textContent).toBe('Add an NVR');
    expect(button('Add NVR').disabled).toBe(true);
    fireEvent.change(field('Hostname'), { target: { value: ' site-a-nvr ' } });
    fireEvent.change(field('Device name'), { target: { value: 'Site A recorder' } });
    fireEvent.change(field('Region'), { target: { value: '  ' } });
    fireEvent.click(button('Add NVR'));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(net.sent('POST')[0]!.body).toEqual({ hostname: 'site-a-nvr', deviceName: 'Site A recorder', region: null, site: null });
    expect(onCreated.mock.calls[0]![0]).toMatchObject({ id: 'n9', hostname: 'site-a-nvr' });
    expect(await screen.findByText('Added Site A recorder.')).toBeTruthy();
  });

  it("edits an NVR and shows the server's validation message", async () => {
    const net = fakeNetwork(meRoute('admin'), ['PATCH', '/api/nvrs/n1', () => apiError(409, 'CONFLICT', 'Another NVR already uses the hostname n2-host.')]);
    const onClose = vi.fn();
    renderApp(<NvrFormDialog open nvr={nvr('n1', { site: 'Warehouse 3' })} onClose={onClose} />);
    expect(screen.getByRole('heading', { hidden: true }).textContent).toBe('Edit Recorder n1');
    expect(field('Hostname').value).toBe('n1-host');
    expect(field('Site').value).toBe('Warehouse 3');
    fireEvent.change(field('Hostname'), { target: { value: 'n2-host' } });
    fireEvent.click(button('Save'));
    expect((await screen.findByRole('alert', { hidden: true })).textContent).toBe('Another NVR already uses the hostname n2-host.');
    expect(net.sent('PATCH')[0]!.body).toMatchObject({ hostname: 'n2-host', deviceName: 'Recorder n1', region: 'north', site: 'Warehouse 3' });
    expect(onClose).not.toHaveBeenCalled();
  });
});

describe('delete NVR', () => {
  it('keeps the cameras by default, or deletes them with the NVR when chosen', async () => {
    const net = fakeNetwork(meRoute('admin'), ['DELETE', '/api/nvrs/n1', () => json(null, 204)], ['GET', /.*/, () => new Promise(() => undefined)]);
    const onClose = vi.fn();
    const onDeleted = vi.fn();
    renderApp(
      <>
        <DeleteNvrDialog nvr={nvr('n1')} onClose={onClose} onDeleted={onDeleted} />
        <Toaster />
      </>,
    );
    expect(screen.getByText(/This NVR has 4 cameras\./)).toBeTruthy();
    expect(button('Delete NVR')).toBeTruthy();
    fireEvent.click(screen.getByLabelText(/Delete them/));
    fireEvent.click(button('Delete NVR and 4 cameras'));
    await waitFor(() => expect(onDeleted).toHaveBeenCalled());
    expect(onClose).toHaveBeenCalled();
    expect(net.sent('DELETE')[0]!.url).toBe('/api/nvrs/n1?cameras=delete');
    expect(await screen.findByText('Deleted Recorder n1 and its cameras.')).toBeTruthy();
  });

  it('detaches the cameras, and shows a refusal', async () => {
    const net = fakeNetwork(meRoute('admin'), ['DELETE', '/api/nvrs/n1', () => apiError(403, 'FORBIDDEN', 'Only admins may delete NVRs.')]);
    renderApp(<DeleteNvrDialog nvr={nvr('n1', { cameraCounts: { total: 1, online: 1, offline: 0, unknown: 0, byStatus: {} } })} onClose={vi.fn()} />);
    expect(screen.getByText(/This NVR has 1 camera\./)).toBeTruthy();
    fireEvent.click(button('Delete NVR'));
    expect((await screen.findByRole('alert', { hidden: true })).textContent).toBe('Only admins may delete NVRs.');
    expect(net.sent('DELETE')[0]!.url).toBe('/api/nvrs/n1?cameras=detach');
  });
});

describe('agent key', () => {
  it('creates a key, shows it once with the install command, and copies it', async () => {
    const created = { key: 'bhk_secret', installCommand: 'beholder nvr-agent --key bhk_secret', keyId: 'k1', name: 'agent', nvrId: 'n1', createdAt: '2030-01-01T00:00:00.000Z' };
    const net = fakeNetwork(meRoute('admin'), ['POST', '/api/nvrs/n1/keys', () => json(created, 201)]);
    const writeText = vi.fn(() => Promise.resolve());
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    const onClose = vi.fn();
    renderApp(
      <>
        <NvrKeyDialog nvr={nvr('n1')} onClose={onClose} />
        <Toaster />
      </>,
    );
    expect(screen.getByRole('heading', { hidden: true }).textContent).toBe('Agent key for Recorder n1');
    fireEvent.click(button('Create key'));
    expect((await screen.findByRole('status', { hidden: true })).textContent).toBe('This key is shown only now. Copy it before closing this window.');
    expect(net.sent('POST')).toHaveLength(1);
    expect(screen.getByText('bhk_secret')).toBeTruthy();
    fireEvent.click(button('Copy install command'));
    expect(writeText).toHaveBeenCalledWith('beholder nvr-agent --key bhk_secret');
    expect(await screen.findByText('Copied.')).toBeTruthy();
    fireEvent.click(button('Done'));
    expect(onClose).toHaveBeenCalled();
  });

  it('says when the key cannot be made, and when copying fails', async () => {
    let fail = true;
    fakeNetwork(meRoute('admin'), ['POST', '/api/nvrs/n1/keys', () => (fail ? apiError(503, 'DB_DOWN', 'The database is not answering.') : json({ key: 'k', installCommand: 'cmd', keyId: 'k1', name: 'a', nvrId: 'n1', createdAt: '' }, 201))]);
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText: () => Promise.reject(new Error('denied')) } });
    renderApp(
      <>
        <NvrKeyDialog nvr={nvr('n1')} onClose={vi.fn()} />
        <Toaster />
      </>,
    );
    fireEvent.click(button('Create key'));
    expect((await screen.findByRole('alert', { hidden: true })).textContent).toBe('The database is not answering.');
    fail = false;
    fireEvent.click(button('Create key'));
    fireEvent.click(await screen.findByRole('button', { name: 'Copy key', hidden: true }));
    expect(await screen.findByText('Could not copy; select the text instead.')).toBeTruthy();
  });
});

describe('fleet lists', () => {
  it('event list: newest first as given, with details, or the empty text', () => {
    const now = Date.parse('2030-01-01T00:05:00.000Z');
    const { container, rerender } = renderApp(
      <EventList
        now={now}
        events={[
          { key: 'e1', kind: 'nvr-offline', at: '2030-01-01T00:04:00.000Z', title: 'Recorder n1 went offline', detail: '4 cameras affected', nvrId: 'n1' } as never,
          { key: 'e2', kind: 'alert', at: '2030-01-01T00:00:00.000Z', title: 'Face at the gate', detail: null, nvrId: null } as never,
        ]}
      />,
    ).result;
    const items = [...container.querySelectorAll('li')];
    expect(items.map((li) => li.getAttribute('data-event-kind'))).toEqual(['nvr-offline', 'alert']);
    expect(items[0]!.textContent).toContain('4 cameras affected');
    rerender(<EventList now={now} events={[]} empty="All quiet." />);
    expect(container.textContent).toBe('All quiet.');
  });

  it('alerts timeline stacks the severities (each series the total down to it)', () => {
    const data = timelineData([
      { hour: '2030-01-01T00:00:00.000Z', total: 6, bySeverity: { critical: 1, high: 2, low: 3 }, byType: {} },
      { hour: '2030-01-01T01:00:00.000Z', total: 0, bySeverity: {}, byType: {} },
    ]);
    expect(data[0]).toEqual([Date.parse('2030-01-01T00:00:00.000Z') / 1000, Date.parse('2030-01-01T01:00:00.000Z') / 1000]);
    expect(data.slice(1)).toEqual([
      [6, 0], // critical + high + medium + low
      [5, 0], // high + medium + low
      [3, 0], // medium + low
      [3, 0], // low
    ]);
  });
});
