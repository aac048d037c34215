import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { offlineQueue, realtime, realtimeStore } from '../../realtime';
import { AlertThumb, SeverityPill, thumbSrc } from '../AlertThumb';
import { QualityBadge, StatusBadge } from '../CameraStatus';
import { Popover } from '../Popover';
import { SocketStatus } from '../SocketStatus';
import { Sparkline } from '../Sparkline';
import { StreamAlertList } from '../StreamAlertList';
import { RelayStateBadge, StreamStatusBadge } from '../StreamBadges';
import { ConfirmDialog, Dialog, ErrorState, Spinner, Switch } from '../ui';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('Popover', () => {
  it('opens on click, closes on Escape (focus back on the button) and on an outside click', () => {
    render(
      <div>
        <p>outside</p>
        <Popover label="Account" button="Me">
          <p>Panel content</p>
        </Popover>
      </div>,
    );
    const button = screen.getByRole('button', { name: 'Account' });
    expect(button.getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByText('Panel content')).toBeNull();
    fireEvent.click(button);
    expect(screen.getByRole('dialog', { name: 'Account' }).textContent).toBe('Panel content');
    expect(button.getAttribute('aria-expanded')).toBe('true');
    // A click inside the panel keeps it open.
    fireEvent.mouseDown(screen.getByText('Panel content'));
    expect(screen.queryByText('Panel content')).not.toBeNull();
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByText('Panel content')).toBeNull();
    expect(document.activeElement).toBe(button);
    fireEvent.click(button);
    fireEvent.mouseDown(screen.getByText('outside'));
    expect(screen.queryByText('Panel content')).toBeNull();
  });
});

describe('Sparkline', () => {
  it('draws one point per value, scaled to the maximum, labelled for screen readers', () => {
    render(<Sparkline values={[0, 5, 10]} max={10} label="Input frame rate" />);
    const svg = screen.getByRole('img', { name: 'Input frame rate' });
    const points = svg.querySelector('polyline')!.getAttribute('points')!.split(' ');
    expect(points).toHaveLength(3);
    expect(points[0]).toBe('0,35'); // zero at the bottom
    expect(points[2]).toBe('160,1'); // the maximum at the top
  });

  it('puts a single value at the right edge', () => {
    render(<Sparkline values={[3]} label="one" />);
    expect(screen.getByRole('img', { name: 'one' }).querySelector('polyline')!.getAttribute('points')).toMatch(/^160,/);
  });
});

describe('badges', () => {
  it('labels camera statuses, with the attempt while reconnecting', () => {
    const { container } = render(
      <>
        <StatusBadge status="PROCESSING" />
        <StatusBadge status="CONNECTING" attempt={3} />
        <StatusBadge status="STOPPED" attempt={3} />
      </>,
    );
    const badges = [...container.querySelectorAll('[data-status]')].map((b) => b.textContent);
    expect(badges).toEqual(['Live', 'Connecting (attempt 3)', 'Stopped']);
  });

  it('shows the connection quality with its detail, and nothing without one', () => {
    const { container, rerender } = render(<QualityBadge quality="poor" detail="4 fps, 2.0 % loss" />);
    expect(container.textContent).toBe('Connection quality: Poor');
    expect(container.querySelector('[title]')!.getAttribute('title')).toBe('Connection quality: Poor — 4 fps, 2.0 % loss');
    rerender(<QualityBadge quality="excellent" />);
    expect(container.querySelector('[title]')!.getAttribute('title')).toBe('Connection quality: Excellent');
    rerender(<QualityBadge quality={null} />);
    expect(container.textContent).toBe('');
  });

  it('names stream and relay states', () => {
    render(
      <>
        <StreamStatusBadge status="streaming" />
        <StreamStatusBadge status="offline" />
        <RelayStateBadge state="joining" />
      </>,
    );
    expect(screen.getByText('Streaming').closest('[data-stream-status]')!.getAttribute('data-stream-status')).toBe('streaming');
    expect(screen.getByText('Offline')).toBeTruthy();
    expect(screen.getByRole('status').textContent).toBe('Joining the stream…');
  });
});

describe('alert thumbnails', () => {
  it('makes a data URL from base64, keeps a data URL, and shows a placeholder without one', () => {
    expect(thumbSrc('abc')).toBe('data:image/jpeg;base64,abc');
    expect(thumbSrc('data:image/png;base64,x')).toBe('data:image/png;base64,x');
    expect(thumbSrc(null)).toBeNull();
    const { container, rerender } = render(<AlertThumb thumbnail="abc" />);
    expect(container.querySelector('img')!.getAttribute('src')).toBe('data:image/jpeg;base64,abc');
    rerender(<AlertThumb thumbnail={null} />);
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('svg')).not.toBeNull();
  });

  it('styles unknown severities like low ones', () => {
    render(<SeverityPill severity="weird" />);
    render(<SeverityPill severity="low" />);
    const [weird, low] = [screen.getByText('weird'), screen.getByText('low')];
    expect(weird.className).toBe(low.className);
  });
});

describe('stream alert list', () => {
  it('lists the alerts with kind and confidence, or the empty text', () => {
    const createdAt = new Date(Date.now() - 120_000).toISOString();
    const { rerender } = render(
      <StreamAlertList
        alerts={[
          { id: 'a1', severity: 'high', message: 'Person at the door', createdAt, kind: 'ml-alert', confidence: 0.874 },
          { id: 'a2', severity: 'low', message: 'Face', createdAt, kind: 'face-detection', confidence: null },
        ]}
        empty="Nothing yet"
        footer={<p>More below</p>}
      />,
    );
    const list = screen.getByTestId('stream-alerts');
    const items = within(list).getAllByRole('listitem');
    expect(items).toHaveLength(2);
    expect(items[0]!.textContent).toContain('Person at the door');
    expect(items[0]!.textContent).toContain('87 %');
    expect(items[0]!.textContent).toContain('2 minutes ago');
    expect(items[1]!.textContent).not.toContain('%');
    expect(screen.getByRole('heading').textContent).toBe('Alerts (2)');
    expect(screen.queryByText('Nothing yet')).toBeNull();
    expect(screen.getByText('More below')).toBeTruthy();
    rerender(<StreamAlertList alerts={[]} empty="Nothing yet" />);
    expect(screen.getByText('Nothing yet')).toBeTruthy();
  });
});

describe('ui parts', () => {
  it('error state shows the message and a retry button only when given one', () => {
    const retry = vi.fn();
    const { rerender } = render(<ErrorState message="Cannot reach the server." onRetry={retry} />);
    expect(screen.getByRole('alert').textContent).toContain('Cannot reach the server.');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(retry).toHaveBeenCalledOnce();
    rerender(<ErrorState message="Nope" />);
    expect(screen.queryByRole('button')).toBeNull();
  });

  it('spinner announces its label, or "Loading"', () => {
    const { rerender } = render(<Spinner label="Loading cameras…" />);
    expect(screen.getByRole('status').textContent).toBe('Loading cameras…');
    rerender(<Spinner />);
    expect(screen.getByRole('status').textContent).toBe('Loading');
  });

  it('switch reports the flipped value and honours disabled', () => {
    const onChange = vi.fn();
    const { rerender } = render(<Switch checked={false} onChange={onChange} label="Face detection" />);
    const sw = screen.getByRole('switch', { name: 'Face detection' });
    expect(sw.getAttribute('aria-checked')).toBe('false');
    fireEvent.click(sw);
    expect(onChange).toHaveBeenCalledWith(true);
    rerender(<Switch checked onChange={onChange} label="Face detection" disabled />);
    fireEvent.click(screen.getByRole('switch'));
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('dialog shows its content only while open and closes by button, Escape and backdrop', () => {
    const onClose = vi.fn();
    const { container, rerender } = render(
      <Dialog open={false} onClose={onClose} title="Edit">
        <p>Body</p>
      </Dialog>,
    );
    expect(screen.queryByText('Body')).toBeNull();
    rerender(
      <Dialog open onClose={onClose} title="Edit" actions={<span>extra</span>}>
        <p>Body</p>
      </Dialog>,
    );
    const dialog = container.querySelector('dialog')!;
    expect(dialog.open).toBe(true);
    expect(screen.getByText('Body')).toBeTruthy();
    expect(screen.getByText('extra')).toBeTruthy();
    expect(document.getElementById(dialog.getAttribute('aria-labelledby')!)!.textContent).toBe('Edit');
    fireEvent.click(screen.getByRole('button', { name: 'Close', hidden: true }));
    fireEvent(dialog, new Event('cancel', { cancelable: true }));
    fireEvent.click(dialog);
    fireEvent.click(screen.getByText('Body')); // a click inside is not a backdrop click
    expect(onClose).toHaveBeenCalledTimes(3);
    rerender(
      <Dialog open={false} onClose={onClose} title="Edit">
        <p>Body</p>
      </Dialog>,
    );
    expect(dialog.open).toBe(false);
  });

  it('confirm dialog shows the error and disables the button while busy', () => {
    const onConfirm = vi.fn();
    const onClose = vi.fn();
    const { rerender } = render(<ConfirmDialog open title="Delete?" body="Sure?" confirmLabel="Delete" onConfirm={onConfirm} onClose={onClose} error="It failed." />);
    expect(screen.getByRole('alert', { hidden: true }).textContent).toBe('It failed.');
    fireEvent.click(screen.getByRole('button', { name: 'Delete', hidden: true }));
    fireEvent.click(screen.getByRole('button', { name: 'Cancel', hidden: true }));
    expect(onConfirm).toHaveBeenCalledOnce();
    expect(onClose).toHaveBeenCalledOnce();
    rerender(<ConfirmDialog open title="Delete?" body="Sure?" confirmLabel="Delete" onConfirm={onConfirm} onClose={onClose} busy />);
    expect((screen.getByRole('button', { name: 'Delete', hidden: true }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('socket status', () => {
  it('follows the hub connection, counts down to the next retry, retries on click, and counts queued actions', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const reconnect = vi.spyOn(realtime, 'reconnectNow').mockImplementation(() => undefined);
    render(<SocketStatus />);
    const button = () => screen.getByRole('button');
    expect(button().getAttribute('aria-label')).toBe('Real-time updates: Offline');
    act(() => {
      realtimeStore.setConnection('connected');
      realtimeStore.flush();
    });
    expect(button().getAttribute('aria-label')).toBe('Real-time updates: connected');
    expect(screen.getByRole('status').textContent).toBe('Real-time updates live');
    act(() => {
      realtimeStore.setConnection('reconnecting', 2, Date.now() + 5_000);
      realtimeStore.flush();
    });
    expect(button().getAttribute('aria-label')).toBe('Real-time updates: reconnecting, retrying in 5 s');
    expect(button().title).toBe('Real-time updates: reconnecting, retrying in 5 s. Click to retry now.');
    act(() => void vi.advanceTimersByTime(2_000));
    expect(button().getAttribute('aria-label')).toBe('Real-time updates: reconnecting, retrying in 3 s');
    fireEvent.click(button());
    expect(reconnect).toHaveBeenCalledOnce();

    // An action that cannot reach the server waits in the queue: "1 waiting".
    const done = offlineQueue.run('camera:c1:power', 'Start Front door', () => Promise.reject(new TypeError('Failed to fetch'))).catch((e: unknown) => e);
    await act(async () => undefined);
    expect(screen.getByText('1 waiting').getAttribute('title')).toBe('Start Front door');
    act(() => offlineQueue.clear());
    expect(screen.queryByText(/waiting/)).toBeNull();
    expect(((await done) as Error).name).toBe('SupersededError');
  });
});
