/** Start the NVR list's request with the route's code (kept tiny: it is in the entry chunk). */
import type { QueryClient } from '@tanstack/react-query';
import { fleetApi } from './api';
import { fleetKeys } from './keys';

export function prefetchFleet(qc: QueryClient): Promise<void> {
  return qc.prefetchQuery({ queryKey: fleetKeys.nvrs, queryFn: () => fleetApi.allNvrs() });
}
