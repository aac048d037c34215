import { describe, expect, it } from 'vitest';
import { guessDevice } from '../device';

describe('guessDevice', () => {
  it('names common phones and desktops', () => {
    expect(guessDevice('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toEqual({ deviceName: 'Safari on iOS', deviceType: 'ios' });
    expect(guessDevice('Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36')).toEqual({ deviceName: 'Chrome on Android', deviceType: 'android' });
    expect(guessDevice('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36')).toEqual({ deviceName: 'Chrome on Linux', deviceType: 'browser' });
    expect(guessDevice('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0')).toEqual({ deviceName: 'Firefox on Windows', deviceType: 'browser' });
    expect(guessDevice('')).toEqual({ deviceName: 'Web browser', deviceType: 'browser' });
  });
});
