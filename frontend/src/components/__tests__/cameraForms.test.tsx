import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { Toaster } from 'sonner';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Camera, Page } from '../../api/types';
import { useAuth } from '../../auth/auth';
import { camerasKey } from '../../lib/cameras';
import { realtimeStore } from '../../realtime';
import { apiError, camera, fakeNetwork, json, meRoute, pending, renderApp, signIn, signOutLocally } from '../../test/components';
import { CameraActions } from '../CameraActions';
import { DeleteCameraDialog, EditCameraDialog } from '../CameraDialogs';
import { QuickAdd } from '../QuickAdd';

beforeEach(() => signIn());
afterEach(() => {
  cleanup();
  signOutLocally();
  vi.unstubAllGlobals();
});

function RoleProbe() {
  return <p>role: {useAuth().role ?? '…'}</p>;
}

function input(label: string): HTMLInputElement {
  return screen.getByLabelText(label, { selector: 'input' });
}

describe('edit camera dialog', () => {
  const cam = camera('c1', { name: 'Front door', location: 'Porch', rtspUrl: 'rtsp://admin:***@10.0.0.5/live', faceDetectionEnabled: true, enabled: true });

  it('shows the camera, sends only what changed, toasts and closes', async () => {
    const net = fakeNetwork(meRoute('operator'), ['PATCH', '/api/cameras/c1', (r) => ({ ...cam, ...(r.body as object) })], ['GET', '/api/cameras', () => ({ items: [cam] })]);
    const onClose = vi.fn();
    renderApp(
      <>
        <EditCameraDialog camera={cam} onClose={onClose} />
        <Toaster />
      </>,
    );
    expect(screen.getByRole('heading', { hidden: true }).textContent).toBe('Edit Front door');
    expect(input('Name').value).toBe('Front door');
    expect(input('Location').value).toBe('Porch');
    expect(input('RTSP URL').value).toBe('rtsp://admin:***@10.0.0.5/live');
    fireEvent.change(input('Name'), { target: { value: '  Back door ' } });
    fireEvent.change(input('Location'), { target: { value: '' } });
    fireEvent.click(screen.getByLabelText('Face detection'));
    fireEvent.click(screen.getByRole('button', { name: 'Save', hidden: true }));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    const sent = net.sent('PATCH');
    expect(sent).toHaveLength(1);
    // The masked URL was left as it was: not sent.
    expect(sent[0]!.body).toEqual({ name: 'Back door', location: null, faceDetectionEnabled: false });
    expect(sent[0]!.headers.Authorization).toBe('Bearer access-1');
    expect(await screen.findByText('Saved “Back door”.')).toBeTruthy();
  });

  it('sends a newly typed URL and the enabled switch', async () => {
    const net = fakeNetwork(meRoute('operator'), ['PATCH', '/api/cameras/c1', () => cam]);
    renderApp(<EditCameraDialog camera={cam} onClose={() => undefined} />);
    fireEvent.change(input('RTSP URL'), { target: { value: 'rtsp://admin:secret@10.0.0.6/live' } });
    fireEvent.click(screen.getByLabelText('Enabled'));
    fireEvent.click(screen.getByRole('button', { name: 'Save', hidden: true }));
    await waitFor(() => expect(net.sent('PATCH')).toHaveLength(1));
    expect(net.sent('PATCH')[0]!.body).toEqual({ rtspUrl: 'rtsp://admin:secret@10.0.0.6/live', enabled: false });
  });

  it('closes without a request when nothing changed', () => {
    const net = fakeNetwork(meRoute('operator'));
    const onClose = vi.fn();
    renderApp(<EditCameraDialog camera={cam} onClose={onClose} />);
    fireEvent.click(screen.getByRole('button', { name: 'Save', hidden: true }));
    expect(onClose).toHaveBeenCalledOnce();
    expect(net.sent('PATCH')).toHaveLength(0);
  });

  it("shows the server's validation message and stays open", async () => {
    fakeNetwork(meRoute('operator'), ['PATCH', '/api/cameras/c1', () => apiError(422, 'VALIDATION_ERROR', 'rtspUrl: the address must start with rtsp://')]);
    const onClose = vi.fn();
    renderApp(<EditCameraDialog camera={cam} onClose={onClose} />);
    fireEvent.change(input('RTSP URL'), { target: { value: 'http://x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save', hidden: true }));
    expect((await screen.findByRole('alert', { hidden: true })).textContent).toBe('rtspUrl: the address must start with rtsp://');
    expect(onClose).not.toHaveBeenCalled();
  });

  it('a name conflict without a message gets a plain sentence', async () => {
    fakeNetwork(meRoute('operator'), ['PATCH', '/api/cameras/c1', () => json({}, 409)]);
    renderApp(<EditCameraDialog camera={cam} onClose={() => undefined} />);
    fireEvent.change(input('Name'), { target: { value: 'Taken' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save', hidden: true }));
    expect((await screen.findByRole('alert', { hidden: true })).textContent).toBe('This conflicts with something that already exists.');
  });

  it('renders a closed dialog without a camera', () => {
    fakeNetwork(meRoute('operator'));
    const { result } = renderApp(<EditCameraDialog camera={null} onClose={() => undefined} />);
    expect(result.container.querySelector('dialog')!.open).toBe(false);
    expect(screen.queryByLabelText('Name')).toBeNull();
  });
});

describe('delete camera dialog', () => {
  const cam = camera('c1', { name: 'Front door' });

  it('deletes, drops the camera from the list at once, toasts and closes', async () => {
    const net = fakeNetwork(meRoute('admin'), ['DELETE', '/api/cameras/c1', () => json(null, 204)], ['GET', '/api/cameras', () => pending()]);
    const onClose = vi.fn();
    const { client } = renderApp(
      <>
        <DeleteCameraDialog camera={cam} onClose={onClose} />
        <Toaster />
      </>,
    );
    client.setQueryData<Page<Camera>>(camerasKey, { items: [cam, camera('c2')] });
    expect(screen.getByRole('heading', { hidden: true }).textContent).toBe('Delete Front door?');
    fireEvent.click(screen.getByRole('button', { name: 'Delete', hidden: true }));
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(net.sent('DELETE').map((r) => r.url)).toEqual(['/api/cameras/c1']);
    expect(client.getQueryData<Page<Camera>>(camerasKey)!.items.map((c) => c.id)).toEqual(['c2']);
    expect(await screen.findByText('Deleted “Front door”.')).toBeTruthy();
  });

  it('shows why the delete failed', async () => {
    fakeNetwork(meRoute('admin'), ['DELETE', '/api/cameras/c1', () => apiError(503, 'BUS_UNAVAILABLE', 'The message bus is unreachable.')]);
    const onClose = vi.fn();
    renderApp(<DeleteCameraDialog camera={cam} onClose={onClose} />);
    fireEvent.click(screen.getByRole('button', { name: 'Delete', hidden: true }));
    expect((await screen.findByRole('alert', { hidden: true })).textContent).toBe('The message bus is unreachable.');
    expect(onClose).not.toHaveBeenCalled();
  });
});

describe('camera actions', () => {
  it('render nothing for a viewer', async () => {
    fakeNetwork(meRoute('viewer'));
    const { result } = renderApp(
      <>
        <RoleProbe />
        <CameraActions camera={camera('c1')} status="PROCESSING" onEdit={vi.fn()} onDelete={vi.fn()} />
      </>,
    );
    await screen.findByText('role: viewer');
    expect(result.container.textContent).toBe('role: viewer');
    expect(screen.queryByRole('button')).toBeNull();
  });

  it('stop a running camera: the request is sent and the accepted status shown at once', async () => {
    const net = fakeNetwork(meRoute('operator'), ['POST', /\/api\/cameras\/c1\/(stop|restart|start)$/, () => json({ status: 'STOPPING' }, 202)]);
    const onEdit = vi.fn();
    const onDelete = vi.fn();
    const cam = camera('c1', { name: 'Gate' });
    renderApp(<CameraActions camera={cam} status="PROCESSING" onEdit={onEdit} onDelete={onDelete} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Stop Gate' }));
    await waitFor(() => expect(net.sent('POST').map((r) => r.path)).toEqual(['/api/cameras/c1/stop']));
    await waitFor(() => {
      realtimeStore.flush();
      expect(realtimeStore.getState().cameras.c1?.status).toBe('STOPPING');
    });
    fireEvent.click(screen.getByRole('button', { name: 'Restart Gate' }));
    await waitFor(() => expect(net.sent('POST').map((r) => r.path)).toContain('/api/cameras/c1/restart'));
    fireEvent.click(screen.getByRole('button', { name: 'Edit Gate' }));
    fireEvent.click(screen.getByRole('button', { name: 'Delete Gate' }));
    expect(onEdit).toHaveBeenCalledWith(cam);
    expect(onDelete).toHaveBeenCalledWith(cam);
  });

  it('a stopped camera offers Start; a refused command shows a toast with the reason', async () => {
    const net = fakeNetwork(meRoute('admin'), ['POST', '/api/cameras/c1/start', () => apiError(409, 'CONFLICT', 'The camera is being deleted.')]);
    renderApp(
      <>
        <CameraActions camera={camera('c1', { name: 'Gate' })} status="STOPPED" onEdit={vi.fn()} onDelete={vi.fn()} compact />
        <Toaster />
      </>,
    );
    expect(screen.queryByRole('button', { name: 'Stop Gate' })).toBeNull();
    const start = await screen.findByRole('button', { name: 'Start Gate' });
    expect(start.textContent).toBe(' '); // compact: icons only
    fireEvent.click(start);
    expect(await screen.findByText('Could not start Gate: The camera is being deleted.')).toBeTruthy();
    expect(net.sent('POST')).toHaveLength(1);
  });
});

describe('quick add', () => {
  function field(): HTMLInputElement {
    return screen.getByRole('textbox');
  }

  it('checks the address locally before sending anything', async () => {
    const net = fakeNetwork(meRoute('operator'));
    renderApp(<QuickAdd />);
    fireEvent.submit(field().closest('form')!);
    expect((await screen.findByRole('alert')).textContent).toBe("Paste the camera's RTSP address, e.g. rtsp://192.168.1.20:554/stream1.");
    fireEvent.change(field(), { target: { value: 'http://10.0.0.9/x' } });
    expect(screen.queryByRole('alert')).toBeNull(); // typing clears the error
    fireEvent.submit(field().closest('form')!);
    expect(screen.getByRole('alert').textContent).toBe('The address must start with rtsp:// or rtsps://.');
    expect(field().getAttribute('aria-invalid')).toBe('true');
    expect(net.sent('POST')).toHaveLength(0);
  });

  it('creates the camera named after its host, starts it and clears the field', async () => {
    const created = camera('new1', { name: '10.0.0.9 live' });
    const net = fakeNetwork(
      meRoute('operator'),
      ['POST', '/api/cameras', () => json(created, 201)],
      ['POST', '/api/cameras/new1/start', () => json({ status: 'STARTING' }, 202)],
      ['GET', '/api/cameras', () => pending()],
    );
    const { client } = renderApp(
      <>
        <QuickAdd />
        <Toaster />
      </>,
    );
    fireEvent.change(field(), { target: { value: ' rtsp://u:p@10.0.0.9/live ' } });
    fireEvent.submit(field().closest('form')!);
    expect(await screen.findByText('Added “10.0.0.9 live”. Starting…')).toBeTruthy();
    expect(net.sent('POST').map((r) => [r.path, r.body])).toEqual([
      ['/api/cameras', { name: '10.0.0.9 live', rtspUrl: 'rtsp://u:p@10.0.0.9/live', enabled: true, faceDetectionEnabled: true }],
      ['/api/cameras/new1/start', undefined],
    ]);
    expect(field().value).toBe('');
    expect(client.getQueryData<Page<Camera>>(camerasKey)!.items.map((c) => c.id)).toEqual(['new1']);
  });

  it('takes the next free name when another browser made one meanwhile, and says when the start fails', async () => {
    let n = 0;
    const net = fakeNetwork(
      meRoute('operator'),
      ['POST', '/api/cameras', (r) => (n++ === 0 ? apiError(409, 'CONFLICT', 'A camera of that name exists.') : json(camera('c9', { name: (r.body as { name: string }).name }), 201))],
      ['POST', '/api/cameras/c9/start', () => apiError(503, 'BUS_UNAVAILABLE', 'The message bus is unreachable.')],
      ['GET', '/api/cameras', () => pending()],
    );
    const { client } = renderApp(
      <>
        <QuickAdd />
        <Toaster />
      </>,
    );
    client.setQueryData<Page<Camera>>(camerasKey, { items: [camera('c1', { name: 'cam.local' })] });
    fireEvent.change(field(), { target: { value: 'rtsp://cam.local' } });
    fireEvent.submit(field().closest('form')!);
    expect(await screen.findByText('“cam.local (3)” was added but could not be started: The message bus is unreachable.')).toBeTruthy();
    expect(net.sent('POST', '/api/cameras').map((r) => (r.body as { name: string }).name)).toEqual(['cam.local (2)', 'cam.local (3)']);
  });

  it("shows the server's answer when the camera cannot be created", async () => {
    fakeNetwork(meRoute('operator'), ['POST', '/api/cameras', () => apiError(422, 'VALIDATION_ERROR', 'rtspUrl: unsupported scheme')]);
    renderApp(<QuickAdd />);
    fireEvent.change(field(), { target: { value: 'rtsps://10.1.1.1/' } });
    fireEvent.submit(field().closest('form')!);
    expect((await screen.findByRole('alert')).textContent).toBe('rtspUrl: unsupported scheme');
    expect(field().value).toBe('rtsps://10.1.1.1/'); // kept for correcting
    expect(field().disabled).toBe(false);
  });
});
