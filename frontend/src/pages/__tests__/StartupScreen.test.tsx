import { act, cleanup, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiError, json, renderPage, sentTo, stubFetch, type Sent } from '../../test/pages';
import { StartupGate } from '../StartupScreen';

let answer: () => Response;
let sent: Sent[];
beforeEach(() => {
  vi.useFakeTimers({ shouldAdvanceTime: true });
  sent = stubFetch(() => answer());
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function gate() {
  return renderPage(
    <StartupGate>
      <p>The app</p>
    </StartupGate>,
  );
}

describe('Start-up screen', () => {
  it('lets the app through at once when the server is ready, without flashing the screen', async () => {
    answer = () => json({ status: 'healthy', services: {} });
    gate();
    expect(screen.getByText('Connecting to Beholder…')).toBeTruthy();
    await screen.findByText('The app');
    expect(screen.queryByRole('heading', { name: 'Beholder is starting' })).toBeNull();
  });

  it('lists the services while not ready and asks again every second until it is', async () => {
    answer = () =>
      json(
        {
          status: 'unhealthy',
          services: { database: { status: 'healthy' }, inference: { status: 'unhealthy', message: 'Loading the model' } },
          error: { code: 'NOT_READY', message: 'The inference service is loading its model.' },
        },
        503,
      );
    gate();
    await screen.findByRole('heading', { name: 'Beholder is starting' });
    expect(screen.getByText('The inference service is loading its model.')).toBeTruthy();
    const services = [...document.querySelectorAll('[data-service]')].map((li) => [li.getAttribute('data-service'), li.getAttribute('data-status')]);
    expect(services).toEqual([
      ['database', 'HEALTHY'],
      ['inference', 'UNHEALTHY'],
    ]);
    expect(screen.queryByText('The app')).toBeNull();

    answer = () => json({ status: 'healthy', services: {} });
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1_100);
    });
    await screen.findByText('The app');
    const polls = sentTo(sent, '/api/system/ready').length;
    expect(polls).toBeGreaterThanOrEqual(2);
    // Ready for good: no more polling.
    await act(async () => {
      await vi.advanceTimersByTimeAsync(5_000);
    });
    expect(sentTo(sent, '/api/system/ready')).toHaveLength(polls);
  });

  it('says it is waiting for the server when it does not answer with data (proxy error)', async () => {
    answer = () => new Response('<html>Bad gateway</html>', { status: 502 });
    gate();
    expect((await screen.findByText(/^Waiting for the server…/)).textContent).toBe('Waiting for the server… (The server is not answering yet.)');
    answer = () => apiError(500, 'INTERNAL', 'Database migration in progress.');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1_100);
    });
    await screen.findByText('Waiting for the server… (Database migration in progress.)');
  });
});
