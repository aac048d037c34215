import { describe, expect, it } from 'vitest';
import { MultipartParser, boundaryOf } from '../mjpeg';

const enc = new TextEncoder();
function bytes(...parts: (string | number[])[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? enc.encode(p) : new Uint8Array(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

describe('MJPEG multipart parsing', () => {
  it('reads the boundary from the content type', () => {
    expect(boundaryOf('multipart/x-mixed-replace; boundary=frame')).toBe('frame');
    expect(boundaryOf('multipart/x-mixed-replace;boundary="--abc"')).toBe('--abc');
    expect(boundaryOf('image/jpeg')).toBeNull();
  });

  it('splits parts with Content-Length across arbitrary chunk borders', () => {
    const jpeg1 = [0xff, 0xd8, 1, 2, 3, 0xff, 0xd9];
    const jpeg2 = [0xff, 0xd8, 9, 0x2d, 0x2d, 0xff, 0xd9]; // contains "--"
    const body = bytes(
      '--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 7\r\n\r\n', jpeg1, '\r\n',
      '--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 7\r\n\r\n', jpeg2, '\r\n',
    );
    const p = new MultipartParser('frame');
    const got: number[][] = [];
    for (let i = 0; i < body.length; i += 5) for (const part of p.push(body.subarray(i, i + 5))) got.push([...part]);
    expect(got).toEqual([jpeg1, jpeg2]);
  });

  it('splits parts without Content-Length at the next boundary', () => {
    const p = new MultipartParser('b');
    const out = p.push(bytes('--b\r\n\r\n', [1, 2, 3], '\r\n--b\r\n\r\n', [4, 5], '\r\n--b\r\n'));
    expect(out.map((x) => [...x])).toEqual([[1, 2, 3], [4, 5]]);
  });
});
