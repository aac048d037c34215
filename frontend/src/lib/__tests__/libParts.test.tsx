import { act, cleanup, render, renderHook } from '@testing-library/react';
import { useRef } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { absoluteTime, formatBytes, formatDuration, healthKey, isRunning, num, relativeTime } from '../format';
import { getPrefs, setPrefs, usePrefs } from '../prefs';
import { playChime } from '../sound';
import { ui, useUi } from '../ui';
import { useInView } from '../useInView';
import { useNow } from '../useNow';
import { useSortedByName } from '../useSortedByName';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('format', () => {
  it('relative times: empty for missing or invalid, "just now" within 5 s, else with a suffix', () => {
    const now = Date.now();
    expect(relativeTime(null)).toBe('');
    expect(relativeTime('not a date')).toBe('');
    expect(relativeTime(new Date(now - 2_000).toISOString(), now)).toBe('just now');
    expect(relativeTime(new Date(now - 3 * 60_000).toISOString(), now)).toBe('3 minutes ago');
    expect(absoluteTime(undefined)).toBe('');
    expect(absoluteTime('garbage')).toBe('');
    expect(absoluteTime('2030-01-01T00:00:00Z')).toBe(new Date('2030-01-01T00:00:00Z').toLocaleString());
  });

  it('bytes, durations and numbers, with a dash for missing values', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(50 * 1024 * 1024)).toBe('50 MB');
    expect(formatBytes(3 * 1024 ** 5)).toBe('3072 TB');
    expect(formatDuration(undefined)).toBe('—');
    expect(formatDuration(42.9)).toBe('42 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(3 * 3600 + 7 * 60 + 5)).toBe('3 h 7 min');
    expect(num(null)).toBe('—');
    expect(num(Number.NaN)).toBe('—');
    expect(num(12.345)).toBe('12.3');
    expect(num(12.5, 0)).toBe('13');
  });

  it('health keys and running states', () => {
    expect(healthKey('degraded')).toBe('DEGRADED');
    expect(healthKey('weird')).toBe('UNKNOWN');
    expect(healthKey(undefined)).toBe('UNKNOWN');
    expect(['STARTING', 'CONNECTING', 'PROCESSING', 'ERROR', 'STOPPED'].map((s) => isRunning(s as never))).toEqual([true, true, true, false, false]);
  });
});

describe('prefs', () => {
  it('are kept in localStorage and re-render their users', () => {
    const { result } = renderHook(() => usePrefs());
    expect(result.current.sound).toBe(false);
    act(() => setPrefs({ sound: true, columns: 3 }));
    expect(result.current.sound).toBe(true);
    expect(getPrefs().columns).toBe(3);
    expect(JSON.parse(localStorage.getItem('beholder.prefs')!)).toMatchObject({ sound: true, columns: 3, camerasView: 'table' });
  });
});

describe('ui state', () => {
  it('opens and closes the notification panel and the alert detail', () => {
    const { result } = renderHook(() => useUi((s) => s));
    expect(result.current.notificationsOpen).toBe(false);
    act(() => ui.toggleNotifications());
    expect(result.current.notificationsOpen).toBe(true);
    act(() => ui.closeNotifications());
    expect(result.current.notificationsOpen).toBe(false);
    act(() => ui.openNotifications());
    expect(result.current.notificationsOpen).toBe(true);
    act(() => ui.openAlert('a1'));
    expect(result.current.alert).toEqual({ id: 'a1' });
    act(() => ui.closeAlert());
    expect(result.current.alert).toBeNull();
  });
});

describe('useNow', () => {
  it('ticks every interval, and not at all with null', () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
    const { result, rerender } = renderHook(({ every }: { every: number | null }) => useNow(every), { initialProps: { every: 1000 as number | null } });
    expect(result.current).toBe(1_000_000);
    act(() => void vi.advanceTimersByTime(3000));
    expect(result.current).toBe(1_003_000);
    rerender({ every: null });
    act(() => void vi.advanceTimersByTime(3000));
    expect(result.current).toBe(1_003_000);
  });
});

describe('useInView', () => {
  function Probe() {
    const ref = useRef<HTMLDivElement>(null);
    const inView = useInView(ref, '50px');
    return <div ref={ref}>{inView ? 'visible' : 'hidden'}</div>;
  }

  it('is true without IntersectionObserver', () => {
    vi.stubGlobal('IntersectionObserver', undefined);
    const { container } = render(<Probe />);
    expect(container.textContent).toBe('visible');
  });

  it('follows the observer and disconnects on unmount', () => {
    let cb: IntersectionObserverCallback | null = null;
    const disconnect = vi.fn();
    const observe = vi.fn();
    let margin: string | undefined;
    vi.stubGlobal(
      'IntersectionObserver',
      class {
        constructor(c: IntersectionObserverCallback, o?: IntersectionObserverInit) {
          cb = c;
          margin = o?.rootMargin;
        }
        observe = observe;
        disconnect = disconnect;
      },
    );
    const { container, unmount } = render(<Probe />);
    expect(observe).toHaveBeenCalledWith(container.firstChild);
    expect(margin).toBe('50px');
    act(() => cb!([{ isIntersecting: false } as IntersectionObserverEntry], {} as IntersectionObserver));
    expect(container.textContent).toBe('hidden');
    act(() => cb!([{ isIntersecting: true } as IntersectionObserverEntry], {} as IntersectionObserver));
    expect(container.textContent).toBe('visible');
    unmount();
    expect(disconnect).toHaveBeenCalled();
  });
});

describe('useSortedByName', () => {
  it('sorts naturally and keeps the order while only other fields change', () => {
    const a = [
      { id: '1', name: 'ch10', s: 1 },
      { id: '2', name: 'ch2', s: 1 },
      { id: '3', name: 'Alpha', s: 1 },
    ];
    const { result, rerender } = renderHook(({ items }) => useSortedByName(items), { initialProps: { items: a } });
    expect(result.current.map((c) => c.name)).toEqual(['Alpha', 'ch2', 'ch10']);
    const b = a.map((c) => ({ ...c, s: 2 }));
    rerender({ items: b });
    expect(result.current.map((c) => c.name)).toEqual(['Alpha', 'ch2', 'ch10']);
    expect(result.current[0]!.s).toBe(2); // the new objects
    rerender({ items: [...b, { id: '4', name: 'ch1', s: 2 }] });
    expect(result.current.map((c) => c.name)).toEqual(['Alpha', 'ch1', 'ch2', 'ch10']);
    rerender({ items: undefined as never });
    expect(result.current).toEqual([]);
  });
});

describe('chime', () => {
  it('plays two tones with Web Audio', () => {
    const freqs: number[] = [];
    const started: number[] = [];
    const node = () => ({
      type: '',
      connect: (n: unknown) => n,
      frequency: {
        set value(v: number) {
          freqs.push(v);
        },
      },
      gain: { setValueAtTime: vi.fn(), exponentialRampToValueAtTime: vi.fn() },
      start: (t: number) => started.push(t),
      stop: vi.fn(),
    });
    vi.stubGlobal(
      'AudioContext',
      class {
        currentTime = 10;
        destination = {};
        createOscillator = node;
        createGain = node;
      },
    );
    playChime();
    expect(freqs).toEqual([880, 1320]);
    expect(started).toEqual([10, 10.12]);
  });
});
