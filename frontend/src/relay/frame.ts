/**
 * Binary video frames of the mobile relay `/api/streams/ws` (issue 10; the server's twin is
 * `beholder/contracts/relay_frame.py`). All integers big-endian; a 28-byte header, then the
 * JPEG bytes:
 *
 *   [0]      version   = 1
 *   [1]      codec     = 1 (JPEG)
 *   [2:4]    flags     = 0 (uint16)
 *   [4:20]   stream id (UUID, 16 raw bytes)
 *   [20:28]  timestamp (unix ms, uint64)
 *   [28:]    payload (a whole JPEG: starts FFD8, ends FFD9)
 */

export const FRAME_VERSION = 1;
export const CODEC_JPEG = 1;
export const HEADER_BYTES = 28;

export interface RelayFrame {
  version: number;
  codec: number;
  flags: number;
  /** Canonical lower-case UUID (8-4-4-4-12). */
  streamId: string;
  /** Unix ms. */
  timestamp: number;
  /** The JPEG bytes (a view into the decoded buffer, not a copy). */
  payload: Uint8Array;
}

/** A frame that does not follow the layout above. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** 16 raw bytes of a UUID given as text (with or without dashes). */
export function uuidToBytes(id: string): Uint8Array {
  if (!UUID_RE.test(id)) throw new FrameError('The stream id is not a UUID.');
  const hex = id.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Canonical text of 16 raw UUID bytes. */
export function bytesToUuid(b: Uint8Array): string {
  if (b.length !== 16) throw new FrameError('A UUID has 16 bytes.');
  let hex = '';
  for (const x of b) hex += x.toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True when `p` is a whole JPEG by its markers (SOI FFD8 first, EOI FFD9 last). */
export function isJpeg(p: Uint8Array): boolean {
  const n = p.length;
  return n >= 4 && p[0] === 0xff && p[1] === 0xd8 && p[n - 2] === 0xff && p[n - 1] === 0xd9;
}

/**
 * Header + `jpeg` as one buffer ready for `WebSocket.send`.
 * Throws FrameError for a stream id that is not a UUID, a timestamp that is not a
 * non-negative integer, or a payload that is not a JPEG.
 */
export function encodeFrame(streamId: string, timestamp: number, jpeg: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new FrameError('The timestamp must be unix ms.');
  if (!isJpeg(jpeg)) throw new FrameError('The payload is not a JPEG.');
  const out = new Uint8Array(HEADER_BYTES + jpeg.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAME_VERSION);
  view.setUint8(1, CODEC_JPEG);
  view.setUint16(2, 0);
  out.set(uuidToBytes(streamId), 4);
  view.setBigUint64(20, BigInt(timestamp));
  out.set(jpeg, HEADER_BYTES);
  return out;
}

/**
 * The frame in `data` (a received binary message). Throws FrameError when it is shorter than
 * the header, has another version or codec, non-zero flags, or a payload that is not a JPEG.
 */
export function decodeFrame(data: ArrayBuffer | Uint8Array): RelayFrame {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < HEADER_BYTES) throw new FrameError('The frame is shorter than its header.');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  const codec = view.getUint8(1);
  const flags = view.getUint16(2);
  if (version !== FRAME_VERSION) throw new FrameError(`Unknown frame version ${version}.`);
  if (codec !== CODEC_JPEG) throw new FrameError(`Unknown codec ${codec}.`);
  if (flags !== 0) throw new FrameError('Unknown frame flags.');
  const ts = view.getBigUint64(20);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError('The timestamp is out of range.');
  const payload = bytes.subarray(HEADER_BYTES);
  if (!isJpeg(payload)) throw new FrameError('The payload is not a JPEG.');
  return { version, codec, flags, streamId: bytesToUuid(bytes.subarray(4, 20)), timestamp: Number(ts), payload };
}
