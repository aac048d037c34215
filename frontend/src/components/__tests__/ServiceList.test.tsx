import { cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceList } from '../HealthIndicator';

afterEach(cleanup);

describe('service list', () => {
  it('shows an anonymous health answer (name and status only) without details', () => {
    const { container } = render(<ServiceList services={{ database: { name: 'database', status: 'HEALTHY' }, bus: { name: 'bus', status: 'DEGRADED' } }} />);
    const items = container.querySelectorAll('li[data-service]');
    expect([...items].map((li) => [li.getAttribute('data-service'), li.getAttribute('data-status')])).toEqual([
      ['database', 'HEALTHY'],
      ['bus', 'DEGRADED'],
    ]);
    expect(container.textContent).not.toMatch(/ms|checked/);
  });

  it('shows details and timings to a signed-in user', () => {
    const at = new Date().toISOString();
    const { container } = render(
      <ServiceList services={{ database: { name: 'database', status: 'HEALTHY', responseTimeMs: 3, lastChecked: at, details: { backend: 'sqlite' } } }} />,
    );
    expect(container.textContent).toMatch(/backend: sqlite/);
    expect(container.textContent).toMatch(/3 ms/);
  });
});
