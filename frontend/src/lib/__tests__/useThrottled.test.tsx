import { act, cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useThrottled } from '../useThrottled';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

function Show({ v }: { v: number | undefined }) {
  const t = useThrottled(v, 500);
  return <span>{t ?? 'none'}</span>;
}

describe('useThrottled', () => {
  it('passes the first value at once, then at most one every 500 ms, the latest winning', () => {
    vi.useFakeTimers();
    const { container, rerender } = render(<Show v={undefined} />);
    rerender(<Show v={1} />);
    expect(container.textContent).toBe('1'); // first data: no wait
    rerender(<Show v={2} />);
    rerender(<Show v={3} />);
    expect(container.textContent).toBe('1');
    act(() => void vi.advanceTimersByTime(500));
    expect(container.textContent).toBe('3');
  });
});
