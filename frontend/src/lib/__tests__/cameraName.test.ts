import { describe, expect, it } from 'vitest';
import { nameFromUrl, quickRtspCheck, rtspHost } from '../cameraName';

describe('camera names from RTSP URLs', () => {
  it('takes the host (never the credentials) and the short path', () => {
    expect(rtspHost('rtsp://admin:secret@192.168.1.20:554/stream1')).toBe('192.168.1.20');
    expect(nameFromUrl('rtsp://admin:secret@192.168.1.20:554/stream1', [])).toBe('192.168.1.20 stream1');
    expect(nameFromUrl('rtsp://cam.local', [])).toBe('cam.local');
    expect(nameFromUrl('rtsp://[fe80::1]:554/', [])).toBe('fe80::1');
  });

  it('is unique among the existing names', () => {
    expect(nameFromUrl('rtsp://cam.local/', ['cam.local', 'CAM.LOCAL (2)'])).toBe('cam.local (3)');
  });

  it('answers obvious mistakes locally, in words', () => {
    expect(quickRtspCheck('')).toMatch(/RTSP address/);
    expect(quickRtspCheck('http://x/y')).toMatch(/rtsp:\/\//);
    expect(quickRtspCheck('rtsp://')).toMatch(/no host/);
    expect(quickRtspCheck(' rtsp://10.0.0.1/live ')).toBeNull();
  });
});
