/** A name and type for this browser as a stream source (editable on the /publish page). */
export interface DeviceGuess {
  /** e.g. "Chrome on Android" (1..128 chars). */
  deviceName: string;
  /** "ios", "android" or "browser" (the register call's deviceType). */
  deviceType: 'ios' | 'android' | 'browser';
}

export function guessDevice(ua: string): DeviceGuess {
  const os = /iPhone|iPad|iPod/.test(ua)
    ? 'iOS'
    : /Android/.test(ua)
      ? 'Android'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : null;
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /OPR\//.test(ua)
      ? 'Opera'
      : /SamsungBrowser\//.test(ua)
        ? 'Samsung Internet'
        : /Firefox\/|FxiOS\//.test(ua)
          ? 'Firefox'
          : /Chrome\/|Chromium\/|CriOS\//.test(ua)
            ? 'Chrome'
            : /Safari\//.test(ua)
              ? 'Safari'
              : null;
  const deviceName = browser && os ? `${browser} on ${os}` : browser ?? os ?? 'Web browser';
  const deviceType = os === 'iOS' ? 'ios' : os === 'Android' ? 'android' : 'browser';
  return { deviceName, deviceType };
}
