/** Query keys of the fleet's REST data (one place, shared by the prefetch and the hooks). */
export const fleetKeys = {
  nvrs: ['nvrs'] as const,
  nvr: (id: string) => ['nvrs', id] as const,
  nvrCameras: (id: string) => ['nvrs', id, 'cameras'] as const,
  summary: ['stats-summary'] as const,
};
