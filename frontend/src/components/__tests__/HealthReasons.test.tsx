import { cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { SystemHealth } from '../../api/types';
import { ServiceList, healthReasons } from '../HealthIndicator';

afterEach(cleanup);

const BUS_REASON = 'The message bus is unreachable (reconnecting): camera commands, live view … are unavailable until it returns.';

function degraded(): SystemHealth {
  return {
    overall: 'DEGRADED',
    status: 'DEGRADED',
    ready: true,
    timestamp: new Date().toISOString(),
    services: {
      database: { name: 'database', status: 'HEALTHY', details: { backend: 'postgresql' } },
      bus: {
        name: 'bus',
        status: 'DEGRADED',
        details: { backend: 'nats', reason: BUS_REASON, affected: ['camera commands', 'live view'] },
      },
    },
  };
}

describe('health reasons', () => {
  it('names each service that is not healthy with the reason it gives', () => {
    expect(healthReasons(degraded())).toEqual([{ service: 'bus', reason: BUS_REASON }]);
  });

  it('gives no reason for a healthy system, nor for a healthy service that carries one', () => {
    const h = degraded();
    h.services.bus = { name: 'bus', status: 'HEALTHY', details: { reason: BUS_REASON } };
    expect(healthReasons(h)).toEqual([]);
    expect(healthReasons(undefined)).toEqual([]);
  });

  it('shows the reason and the affected features in the service list', () => {
    const { container } = render(<ServiceList services={degraded().services} />);
    const bus = container.querySelector('li[data-service="bus"]');
    expect(bus?.textContent).toContain(BUS_REASON);
    expect(bus?.textContent).toContain('affected: camera commands, live view');
    expect(bus?.textContent).not.toContain('reason:'); // on its own line, not as a key
  });
});
