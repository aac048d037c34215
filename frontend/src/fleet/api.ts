/** REST calls of the NVR fleet (DESIGN §6, issue 11). */
import { request } from '../api/http';
import type { Nvr, NvrCameraList, NvrCreate, NvrKeyCreated, NvrList, NvrQuery, NvrUpdate, SummaryStats } from './types';

const enc = encodeURIComponent;

export const fleetApi = {
  listNvrs: (q: NvrQuery = {}) => request<NvrList>('/api/nvrs', { query: { ...q } }),
  /** Every NVR, following the cursor (a fleet is hundreds, not millions). */
  async allNvrs(q: Omit<NvrQuery, 'cursor' | 'limit'> = {}): Promise<NvrList> {
    const first = await fleetApi.listNvrs({ ...q, limit: 500 });
    const items = [...first.items];
    let cursor = first.nextCursor;
    for (let i = 0; cursor && i < 100; i++) {
      const p = await fleetApi.listNvrs({ ...q, limit: 500, cursor });
      items.push(...p.items);
      cursor = p.nextCursor;
    }
    return { ...first, items, nextCursor: null };
  },
  getNvr: (id: string) => request<Nvr>(`/api/nvrs/${enc(id)}`),
  createNvr: (body: NvrCreate) => request<Nvr>('/api/nvrs', { method: 'POST', json: body }),
  updateNvr: (id: string, body: NvrUpdate) => request<Nvr>(`/api/nvrs/${enc(id)}`, { method: 'PATCH', json: body }),
  deleteNvr: (id: string, cameras: 'detach' | 'delete') =>
    request<void>(`/api/nvrs/${enc(id)}`, { method: 'DELETE', query: { cameras } }),
  nvrCameras: (id: string) => request<NvrCameraList>(`/api/nvrs/${enc(id)}/cameras`, { query: { limit: 500 } }),
  createKey: (id: string) => request<NvrKeyCreated>(`/api/nvrs/${enc(id)}/keys`, { method: 'POST' }),
  summary: () => request<SummaryStats>('/api/stats/summary'),
};
