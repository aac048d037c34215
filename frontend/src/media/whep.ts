/**
 * A WHEP viewer (IETF WHEP, as MediaMTX/go2rtc): one recvonly video transceiver preferring
 * H.264, the offer POSTed once ICE gathering is complete (no trickle), the answer applied,
 * DELETE on the session's Location to hang up.
 */
import { fetchWithAuth, toApiError } from '../api/http';
import { tokens } from '../auth/tokens';
import { paths } from '../api/endpoints';
import type { ConnectionQuality } from '../api/types';

export type WhepState = 'connecting' | 'playing' | 'failed' | 'closed';

export interface WhepOptions {
  onState?: (s: WhepState) => void;
  onStream?: (stream: MediaStream) => void;
  iceGatheringTimeoutMs?: number;
}

export interface ViewQuality {
  fps: number | null;
  lossPct: number | null;
  jitterMs: number | null;
  framesDecoded: number;
  width: number | null;
  height: number | null;
  label: ConnectionQuality;
}

/**
 * Connection quality from loss, jitter and frame rate. The frame rate is judged against the
 * camera's own rate when known (``expectedFps``: below 85 % fair, 50 % poor, 20 % unusable),
 * else against absolute thresholds (15/8/2 fps).
 */
export function qualityLabel(
  q: { fps: number | null; lossPct: number | null; jitterMs: number | null },
  expectedFps?: number | null,
): ConnectionQuality {
  const loss = q.lossPct ?? 0;
  const jitter = q.jitterMs ?? 0;
  // A stream's declared rate can be nonsense (a 90 kHz time base read as fps): ignore that.
  const ref = expectedFps && expectedFps > 0 && expectedFps <= 120 ? expectedFps : null;
  const fpsBelow = (share: number, absolute: number) =>
    q.fps !== null && (ref !== null ? q.fps < ref * share : q.fps < absolute);
  if (loss > 10 || fpsBelow(0.2, 2)) return 'unusable';
  if (loss > 3 || jitter > 100 || fpsBelow(0.5, 8)) return 'poor';
  if (loss > 0.5 || jitter > 40 || fpsBelow(0.85, 15)) return 'fair';
  return 'excellent';
}

export function whepSupported(): boolean {
  return typeof RTCPeerConnection !== 'undefined';
}

function preferH264(t: RTCRtpTransceiver): void {
  try {
    const caps = RTCRtpReceiver.getCapabilities?.('video');
    if (!caps || typeof t.setCodecPreferences !== 'function') return;
    const h264 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
    if (!h264.length) return;
    const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== 'video/h264');
    t.setCodecPreferences([...h264, ...rest]);
  } catch {
    /* leave the browser's default order */
  }
}

function waitIceGathering(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    // Host candidates on loopback/LAN come in milliseconds; do not wait forever for others.
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export class WhepSession {
  readonly stream = new MediaStream();
  private pc: RTCPeerConnection | null = null;
  private location: string | null = null;
  private closed = false;
  private state: WhepState = 'connecting';
  private lastStats: { at: number; frames: number; lost: number; received: number } | null = null;
  private unsubscribeTokens: (() => void) | null = null;
  private lastToken: string | null = null;

  constructor(
    private readonly cameraId: string,
    private readonly opts: WhepOptions = {},
  ) {}

  get peerConnection(): RTCPeerConnection | null {
    return this.pc;
  }

  private setState(s: WhepState): void {
    if (this.state === s || (this.closed && s !== 'closed')) return;
    this.state = s;
    this.opts.onState?.(s);
  }

  async start(): Promise<void> {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
    this.pc = pc;
    const t = pc.addTransceiver('video', { direction: 'recvonly' });
    preferH264(t);
    pc.ontrack = (e) => {
      if (!this.stream.getTracks().includes(e.track)) this.stream.addTrack(e.track);
      this.opts.onStream?.(this.stream);
    };
    pc.onconnectionstatechange = () => {
      const cs = pc.connectionState;
      if (cs === 'connected') this.setState('playing');
      else if (cs === 'failed') this.setState('failed');
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitIceGathering(pc, this.opts.iceGatheringTimeoutMs ?? 1500);
    if (this.closed) return;
    const res = await fetchWithAuth(paths.cameraWhep(this.cameraId), {
      method: 'POST',
      body: pc.localDescription?.sdp ?? offer.sdp ?? '',
      headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
    });
    if (res.status !== 201 && !res.ok) throw await toApiError(res);
    const loc = res.headers.get('Location');
    if (loc) this.location = new URL(loc, new URL(res.url || paths.cameraWhep(this.cameraId), window.location.href)).toString();
    const answer = await res.text();
    if (this.closed) {
      this.hangUp();
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    // The server ends a session when the token used for its POST expires: after every token
    // refresh, move the session's expiry along (POST {location}/renew).
    this.lastToken = tokens.accessToken;
    this.unsubscribeTokens = tokens.subscribe(() => {
      const t = tokens.accessToken;
      if (t && t !== this.lastToken && this.location && !this.closed) {
        this.lastToken = t;
        void fetchWithAuth(`${this.location}/renew`, { method: 'POST' }).catch(() => undefined);
      }
    });
  }

  /** Stop/resume decoding without renegotiating (tiles out of view). */
  setReceiving(on: boolean): void {
    for (const tr of this.stream.getVideoTracks()) tr.enabled = on;
  }

  /** ``expectedFps``: the camera's own frame rate when known (a 12 fps camera delivering
   * 12 fps is excellent, not fair). */
  async quality(expectedFps?: number | null): Promise<ViewQuality | null> {
    const pc = this.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    let inbound: Record<string, unknown> | null = null;
    report.forEach((s: Record<string, unknown>) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s;
    });
    if (!inbound) return null;
    const r = inbound as Record<string, number | undefined>;
    const now = performance.now();
    const frames = r.framesDecoded ?? 0;
    const lost = r.packetsLost ?? 0;
    const received = r.packetsReceived ?? 0;
    let fps = r.framesPerSecond ?? null;
    let lossPct: number | null = null;
    if (this.lastStats) {
      const dt = (now - this.lastStats.at) / 1000;
      if (fps === null && dt > 0) fps = (frames - this.lastStats.frames) / dt;
      const dl = lost - this.lastStats.lost;
      const dr = received - this.lastStats.received;
      lossPct = dl + dr > 0 ? (100 * dl) / (dl + dr) : 0;
    }
    this.lastStats = { at: now, frames, lost, received };
    const jitterMs = r.jitter !== undefined ? r.jitter * 1000 : null;
    const label = qualityLabel({ fps, lossPct, jitterMs }, expectedFps);
    return { fps, lossPct, jitterMs, framesDecoded: frames, width: r.frameWidth ?? null, height: r.frameHeight ?? null, label };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hangUp();
    this.setState('closed');
  }

  private hangUp(): void {
    this.unsubscribeTokens?.();
    this.unsubscribeTokens = null;
    try {
      this.pc?.close();
    } catch {
      /* ignore */
    }
    this.pc = null;
    for (const t of this.stream.getTracks()) this.stream.removeTrack(t);
    if (this.location) {
      const loc = this.location;
      this.location = null;
      void fetchWithAuth(loc, { method: 'DELETE', keepalive: true }).catch(() => undefined);
    }
  }
}
