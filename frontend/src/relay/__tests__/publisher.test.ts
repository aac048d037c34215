import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeFrame } from '../frame';
import { Publisher } from '../publisher';

const STREAM = '0123abcd-4567-89ef-8123-456789abcdef';
const JPEG = new Uint8Array([0xff, 0xd8, 7, 0xff, 0xd9]);

function setup(fps = 10) {
  const sent: Uint8Array[] = [];
  const client = {
    ready: true,
    sendFrame: vi.fn((f: Uint8Array) => {
      sent.push(f);
      return 'sent' as const;
    }),
  };
  let hidden = false;
  const grab = vi.fn(async (_w: number) => JPEG);
  const p = new Publisher({ client, streamId: STREAM, grab, fps, width: 640, isHidden: () => hidden, now: () => Date.now() });
  return { p, client, sent, grab, hide: (h: boolean) => (hidden = h) };
}

async function run(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Publisher', () => {
  it('sends binary relay frames at the chosen rate and size', async () => {
    const { p, sent, grab } = setup(10);
    p.start();
    await run(1000);
    expect(sent.length).toBeGreaterThanOrEqual(10);
    expect(sent.length).toBeLessThanOrEqual(11);
    expect(grab).toHaveBeenCalledWith(640);
    const f = decodeFrame(sent[0]!);
    expect(f.streamId).toBe(STREAM);
    expect([...f.payload]).toEqual([...JPEG]);
    p.setFps(2);
    const before = sent.length;
    await run(1000);
    expect(sent.length - before).toBeLessThanOrEqual(3);
    p.stop();
    const stopped = sent.length;
    await run(1000);
    expect(sent.length).toBe(stopped);
  });

  it('takes no picture while the page is hidden or the relay is not ready', async () => {
    const { p, client, grab, hide } = setup(10);
    hide(true);
    p.start();
    await run(1000);
    expect(grab).not.toHaveBeenCalled();
    hide(false);
    client.ready = false;
    await run(1000);
    expect(grab).not.toHaveBeenCalled();
    client.ready = true;
    await run(300);
    expect(grab).toHaveBeenCalled();
    p.stop();
  });

  it('keeps one encode in flight: a slow camera sends fewer frames, never a backlog', async () => {
    const { p, sent, grab } = setup(30);
    grab.mockImplementation(() => new Promise((r) => setTimeout(() => r(JPEG), 250)));
    p.start();
    await run(1000);
    expect(grab.mock.calls.length).toBeLessThanOrEqual(5);
    expect(sent.length).toBeLessThanOrEqual(5);
    p.stop();
  });

  it('clamps the rate to 1…30 fps', async () => {
    const { p, sent } = setup();
    p.setFps(100);
    p.start();
    await run(1000);
    expect(sent.length).toBeLessThanOrEqual(31);
    p.setFps(0);
    const before = sent.length;
    await run(2000);
    expect(sent.length - before).toBeGreaterThanOrEqual(1);
    expect(sent.length - before).toBeLessThanOrEqual(3);
    p.stop();
  });
});
