import { useEffect, useState } from 'react';
import { errorMessage, requestBlob } from '../api/http';

/** An image that needs the Authorization header, as an object URL (revoked on unmount). */
export function useAuthedImage(path: string | null, reloadKey: unknown = 0): { url: string | null; error: string | null; loading: boolean; retry: () => void } {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (!path) {
      // No image (any more): a load that was in flight for the old path is not pending.
      setLoading(false);
      setError(null);
      return;
    }
    const ac = new AbortController();
    let objectUrl: string | null = null;
    setLoading(true);
    setError(null);
    requestBlob(path, ac.signal)
      .then((blob) => {
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      })
      .catch((e: unknown) => {
        if (!ac.signal.aborted) setError(errorMessage(e));
      })
      .finally(() => {
        if (!ac.signal.aborted) setLoading(false);
      });
    return () => {
      ac.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      setUrl(null);
    };
  }, [path, reloadKey, attempt]);
  return { url, error, loading, retry: () => setAttempt((n) => n + 1) };
}
