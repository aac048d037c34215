import { useEffect, useRef, useState } from 'react';

/** `value`, passed on at most once every `ms` (the latest one wins). The first defined
 * value goes through at once (a page's first render never waits). */
export function useThrottled<T>(value: T, ms: number): T {
  const [out, setOut] = useState(value);
  const last = useRef(0);
  const shown = useRef(value);
  useEffect(() => {
    const pass = () => {
      last.current = Date.now();
      shown.current = value;
      setOut(value);
    };
    const wait = last.current + ms - Date.now();
    if (wait <= 0 || shown.current === undefined || shown.current === null) {
      pass();
      return;
    }
    const t = setTimeout(pass, wait);
    return () => clearTimeout(t);
  }, [value, ms]);
  return out;
}
