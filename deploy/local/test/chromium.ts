/**
 * Debian's Chromium (/usr/bin/chromium, installed by `npm test`) driven by playwright-core, as the web
 * client's test and bench/web use it: nothing downloads a browser.
 */
import { type Browser, chromium } from 'playwright-core';

/** The flags this machine needs (.library env doc): no sandbox as root, no calls to Google's hosts. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** launch() gives every run a new, empty user-data-dir of its own (and removes it on close). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
}
