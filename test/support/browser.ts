/**
 * Debian's Chromium driven by playwright-core: headless, no sandbox (containers), no network of
 * its own (no updates, sync or QUIC probes), and a fresh profile each time.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(opts: { width?: number; height?: number; dark?: boolean } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'chatops-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 },
    colorScheme: opts.dark ? 'dark' : 'light',
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
