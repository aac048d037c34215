import { describe, expect, it } from 'vitest';
import { qualityLabel } from '../whep';

const clean = { lossPct: 0, jitterMs: 5 };

describe('qualityLabel', () => {
  it('judges the frame rate against the camera’s own rate when known', () => {
    expect(qualityLabel({ ...clean, fps: 12.4 }, 12.5)).toBe('excellent');
    expect(qualityLabel({ ...clean, fps: 9 }, 12.5)).toBe('fair');
    expect(qualityLabel({ ...clean, fps: 5 }, 12.5)).toBe('poor');
    expect(qualityLabel({ ...clean, fps: 20 }, 30)).toBe('fair');
  });

  it('falls back to absolute thresholds without the camera’s rate', () => {
    expect(qualityLabel({ ...clean, fps: 25 })).toBe('excellent');
    expect(qualityLabel({ ...clean, fps: 12 }, null)).toBe('fair');
    expect(qualityLabel({ ...clean, fps: 6 }, 0)).toBe('poor');
  });

  it('loss, jitter and a frozen picture dominate', () => {
    expect(qualityLabel({ fps: 25, lossPct: 12, jitterMs: 5 }, 25)).toBe('unusable');
    expect(qualityLabel({ fps: 1, lossPct: 0, jitterMs: 5 }, 25)).toBe('unusable');
    expect(qualityLabel({ fps: 0.2, lossPct: 0, jitterMs: 5 }, 2)).toBe('unusable');
    expect(qualityLabel({ fps: 1.8, lossPct: 0, jitterMs: 5 }, 2)).toBe('excellent');
    expect(qualityLabel({ fps: 25, lossPct: 4, jitterMs: 5 }, 25)).toBe('poor');
    expect(qualityLabel({ fps: 25, lossPct: 0, jitterMs: 60 }, 25)).toBe('fair');
    expect(qualityLabel({ fps: null, lossPct: null, jitterMs: null }, 25)).toBe('excellent');
  });
});
