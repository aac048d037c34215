import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiError, sentTo, stubFetch, stubWebSocket, type Sent } from '../test/pages';

// App keeps one query client and the token store for the tab: each test gets fresh modules.
let App: typeof import('../App').App;
let tokens: typeof import('../auth/tokens').tokens;

const server = { role: 'admin' as 'admin' | 'operator' | 'viewer', ready: true, revoked: '', refreshOk: true };

function handler(req: Sent) {
  if (req.path === '/api/system/ready') return server.ready ? { status: 'healthy', services: {} } : apiError(503, 'NOT_READY', 'Starting the database…');
  if (req.path === '/api/auth/login') {
    const b = req.body as { username: string; password: string };
    return b.username === 'alice' && b.password === 'secret'
      ? { accessToken: 'acc-1', refreshToken: 'ref-1', expiresIn: 900, tokenType: 'bearer' }
      : apiError(401, 'INVALID_CREDENTIALS', 'Wrong username or password.');
  }
  if (req.path === '/api/auth/me') {
    if (req.headers.Authorization === `Bearer ${server.revoked}`) return apiError(401, 'TOKEN_EXPIRED', 'Sign in to continue.');
    return { id: 'u1', username: 'alice', role: server.role };
  }
  if (req.path === '/api/auth/refresh') {
    return server.refreshOk
      ? { accessToken: 'acc-2', refreshToken: 'ref-2', expiresIn: 900, tokenType: 'bearer' }
      : apiError(401, 'REFRESH_TOKEN_INVALID', 'Your session has ended. Sign in again.');
  }
  if (req.path === '/api/auth/logout') return new Response(null, { status: 204 });
  return undefined;
}

let sent: Sent[];
beforeEach(async () => {
  server.role = 'admin';
  server.ready = true;
  server.revoked = '';
  server.refreshOk = true;
  sent = stubFetch(handler);
  stubWebSocket();
  localStorage.clear();
  vi.resetModules();
  ({ App } = await import('../App'));
  ({ tokens } = await import('../auth/tokens'));
});
afterEach(() => {
  cleanup();
  tokens.clear();
  vi.unstubAllGlobals();
  window.history.pushState({}, '', '/');
});

function signInAs(role: typeof server.role) {
  server.role = role;
  tokens.set({ accessToken: 'acc-0', refreshToken: 'ref-0', expiresIn: 900, tokenType: 'bearer' });
}

function mainNav() {
  return within(screen.getByRole('navigation', { name: 'Main' }));
}

describe('App routing and sign-in', () => {
  it('sends a signed-out visitor to the sign-in form, whatever the address, and signs in', async () => {
    window.history.pushState({}, '', '/cameras');
    render(<App />);
    await screen.findByRole('heading', { name: /Sign in to Beholder/ });
    expect(screen.queryByRole('navigation', { name: 'Main' })).toBeNull();

    // Empty form: told what is missing, nothing sent.
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(screen.getByRole('alert').textContent).toBe('Enter your username and password.');
    expect(sentTo(sent, '/api/auth/login', 'POST')).toEqual([]);

    // Wrong password: the server's message from the error shape.
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: ' alice ' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'nope' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Wrong username or password.');
    expect(sentTo(sent, '/api/auth/login', 'POST')[0]?.body).toEqual({ username: 'alice', password: 'nope' });
    expect((screen.getByRole('button', { name: 'Sign in' }) as HTMLButtonElement).disabled).toBe(false);

    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'secret' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await screen.findByRole('navigation', { name: 'Main' });
    await screen.findByRole('heading', { name: 'Cameras' });
    expect(tokens.accessToken).toBe('acc-1');
    expect(JSON.parse(localStorage.getItem('beholder.session')!).refreshToken).toBe('ref-1');
    // Authenticated requests now carry the new token.
    await vi.waitFor(() => expect(sentTo(sent, '/api/auth/me')[0]?.headers.Authorization).toBe('Bearer acc-1'));
  });

  it('tells a network failure on sign-in apart from a refusal', async () => {
    vi.stubGlobal('fetch', vi.fn(async (u: string) => (String(u).includes('/ready') ? new Response(JSON.stringify({ status: 'healthy', services: {} })) : Promise.reject(new TypeError('Failed to fetch')))));
    render(<App />);
    fireEvent.change(await screen.findByLabelText('Username'), { target: { value: 'alice' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'secret' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Cannot reach the Beholder server/);
    expect(tokens.get()).toBeNull();
  });

  it('shows an admin the admin-only Audit route and link', async () => {
    signInAs('admin');
    window.history.pushState({}, '', '/audit');
    render(<App />);
    await vi.waitFor(() => expect(mainNav().queryByRole('link', { name: /Audit/ })).not.toBeNull());
    expect(mainNav().getByRole('link', { name: /Cameras/ })).toBeTruthy();
    await screen.findByRole('heading', { name: 'Audit trail' });
    expect(screen.queryByText('Only administrators can see the audit trail.')).toBeNull();
  });

  it('hides the Audit link from an operator and refuses the page if typed in', async () => {
    signInAs('operator');
    window.history.pushState({}, '', '/audit');
    render(<App />);
    await screen.findByText('Only administrators can see the audit trail.');
    await vi.waitFor(() => expect(sentTo(sent, '/api/auth/me').length).toBeGreaterThan(0));
    expect(mainNav().getByRole('link', { name: /NVRs/ })).toBeTruthy();
    expect(mainNav().queryByRole('link', { name: /Audit/ })).toBeNull();
  });

  it('loads the NVR list with the NVRs route', async () => {
    signInAs('viewer');
    window.history.pushState({}, '', '/nvrs');
    render(<App />);
    await vi.waitFor(() => expect(sentTo(sent, '/api/nvrs').length).toBeGreaterThan(0));
    expect(mainNav().getByRole('link', { name: /NVRs/ }).getAttribute('aria-current')).toBe('page');
  });

  it('refreshes a rejected access token once and retries the request with the new one', async () => {
    signInAs('admin');
    server.revoked = 'acc-0';
    render(<App />);
    await screen.findByRole('button', { name: 'Account: alice' });
    expect(sentTo(sent, '/api/auth/refresh', 'POST')[0]?.body).toEqual({ refreshToken: 'ref-0' });
    expect(sentTo(sent, '/api/auth/me').map((r) => r.headers.Authorization)).toEqual(['Bearer acc-0', 'Bearer acc-2']);
    expect(tokens.get()?.refreshToken).toBe('ref-2');
  });

  it('returns to the sign-in form when the session was revoked on the server', async () => {
    signInAs('admin');
    server.revoked = 'acc-0';
    server.refreshOk = false;
    render(<App />);
    await screen.findByRole('heading', { name: /Sign in to Beholder/ });
    expect(tokens.get()).toBeNull();
    expect(localStorage.getItem('beholder.session')).toBeNull();
  });

  it('sends an unknown address to the dashboard', async () => {
    signInAs('viewer');
    window.history.pushState({}, '', '/no/such/page');
    render(<App />);
    await screen.findByRole('heading', { name: 'Live' });
  });

  it('signs out from the account menu: the server forgets the refresh token and the sign-in form returns', async () => {
    signInAs('admin');
    render(<App />);
    const account = await screen.findByRole('button', { name: 'Account: alice' });
    fireEvent.click(account);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    await screen.findByRole('heading', { name: /Sign in to Beholder/ });
    expect(sentTo(sent, '/api/auth/logout', 'POST')[0]?.body).toEqual({ refreshToken: 'ref-0' });
    expect(tokens.get()).toBeNull();
    expect(localStorage.getItem('beholder.session')).toBeNull();
  });

  it('holds the app behind the start-up screen until the server is ready', async () => {
    server.ready = false;
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      render(<App />);
      await screen.findByRole('heading', { name: 'Beholder is starting' });
      expect(screen.getByText('Starting the database…')).toBeTruthy();
      expect(screen.queryByRole('heading', { name: /Sign in/ })).toBeNull();
      server.ready = true;
      await act(async () => {
        await vi.advanceTimersByTimeAsync(1_100);
      });
      await screen.findByRole('heading', { name: /Sign in to Beholder/ });
      expect(sentTo(sent, '/api/system/ready').length).toBeGreaterThanOrEqual(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
