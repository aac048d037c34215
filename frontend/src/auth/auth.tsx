import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import { api } from '../api/endpoints';
import type { Me, Role } from '../api/types';
import { offlineQueue, realtime, realtimeStore } from '../realtime';
import { tokens, type Session } from './tokens';

export interface AuthValue {
  session: Session | null;
  me: Me | undefined;
  role: Role | undefined;
  signIn: (username: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

export function useSession(): Session | null {
  return useSyncExternalStore(
    (l) => tokens.subscribe(l),
    () => tokens.get(),
  );
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const session = useSession();
  const qc = useQueryClient();
  const signedIn = session !== null;
  const me = useQuery({ queryKey: ['me'], queryFn: api.me, enabled: signedIn, staleTime: 5 * 60_000 });

  const signIn = useCallback(
    async (username: string, password: string) => {
      const pair = await api.login(username, password);
      qc.clear();
      tokens.set(pair);
    },
    [qc],
  );

  const signOut = useCallback(async () => {
    const s = tokens.get();
    realtime.reset();
    offlineQueue.clear();
    if (s) await api.logout(s.refreshToken).catch(() => undefined);
    tokens.clear();
    realtimeStore.reset();
    qc.clear();
  }, [qc]);

  const value = useMemo<AuthValue>(
    () => ({ session, me: signedIn ? me.data : undefined, role: signedIn ? me.data?.role : undefined, signIn, signOut }),
    [session, signedIn, me.data, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}

/** What the signed-in user may do. Until the role is known, nothing beyond reading. */
export function usePermissions() {
  const { role } = useAuth();
  const control = role === 'admin' || role === 'operator';
  return { control, acknowledge: control, admin: role === 'admin', known: role !== undefined };
}
