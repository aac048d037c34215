import { describe, expect, it } from 'vitest';
import { FrameError, HEADER_BYTES, bytesToUuid, decodeFrame, encodeFrame, isJpeg, uuidToBytes } from '../frame';

const ID = '0123abcd-4567-89ef-8123-456789abcdef';
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

describe('relay frame codec', () => {
  it('lays the header out as the contract says (big-endian, 28 bytes)', () => {
    const ts = 1_764_650_000_123; // 2025-12-02, needs more than 32 bits
    const out = encodeFrame(ID, ts, JPEG);
    expect(out.length).toBe(HEADER_BYTES + JPEG.length);
    expect(hex(out.subarray(0, 4))).toBe('01010000');
    expect(hex(out.subarray(4, 20))).toBe('0123abcd456789ef8123456789abcdef');
    expect(hex(out.subarray(20, 28))).toBe(ts.toString(16).padStart(16, '0'));
    expect(hex(out.subarray(20, 28))).toBe('0000019add561efb');
    expect([...out.subarray(28)]).toEqual([...JPEG]);
  });

  it('round-trips, also from an ArrayBuffer and from a view with an offset', () => {
    const out = encodeFrame(ID.toUpperCase(), 42, JPEG);
    for (const data of [out, out.slice().buffer as ArrayBuffer, new Uint8Array([9, 9, ...out]).subarray(2)]) {
      const f = decodeFrame(data);
      expect(f).toMatchObject({ version: 1, codec: 1, flags: 0, streamId: ID, timestamp: 42 });
      expect([...f.payload]).toEqual([...JPEG]);
    }
  });

  it('accepts a UUID without dashes and gives back the canonical form', () => {
    expect(bytesToUuid(uuidToBytes(ID.replace(/-/g, '')))).toBe(ID);
  });

  it('refuses what it cannot encode', () => {
    expect(() => encodeFrame('not-a-uuid', 1, JPEG)).toThrow(FrameError);
    expect(() => encodeFrame(ID, -1, JPEG)).toThrow(FrameError);
    expect(() => encodeFrame(ID, 1.5, JPEG)).toThrow(FrameError);
    expect(() => encodeFrame(ID, 1, new Uint8Array([1, 2, 3, 4]))).toThrow(/JPEG/);
  });

  it('refuses malformed frames with a FrameError', () => {
    const good = encodeFrame(ID, 7, JPEG);
    const bad = (patch: (b: Uint8Array) => void) => {
      const b = good.slice();
      patch(b);
      return b;
    };
    expect(() => decodeFrame(good.subarray(0, 27))).toThrow(/shorter/);
    expect(() => decodeFrame(bad((b) => (b[0] = 2)))).toThrow(/version/);
    expect(() => decodeFrame(bad((b) => (b[1] = 2)))).toThrow(/codec/);
    expect(() => decodeFrame(bad((b) => (b[3] = 1)))).toThrow(/flags/);
    expect(() => decodeFrame(bad((b) => (b[20] = 0xff)))).toThrow(/range/);
    expect(() => decodeFrame(bad((b) => (b[28] = 0)))).toThrow(/JPEG/);
    expect(() => decodeFrame(good.subarray(0, HEADER_BYTES))).toThrow(FrameError);
  });

  it('tells a JPEG by its start and end markers', () => {
    expect(isJpeg(JPEG)).toBe(true);
    expect(isJpeg(JPEG.subarray(0, 8))).toBe(false);
    expect(isJpeg(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]))).toBe(true);
    expect(isJpeg(new Uint8Array([0xff, 0xd8]))).toBe(false);
  });
});
