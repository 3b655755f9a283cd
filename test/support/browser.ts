/**
 * A real browser for the tests of `distillery/web`: headless Chromium (the Debian package, which .ci/run installs when
 * it is missing) driven by playwright-core, on the example page as scripts/web.js builds and serves it. Nothing is
 * downloaded at test time. A missing Chromium fails the suite with the command that installs it: never a skip.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { tempDir } from './tiny';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const web = require('../../scripts/web.js') as {
  buildExample(out: string, options?: { minify?: boolean }): Promise<{ out: string; files: string[] }>;
  serveFolder(
    dir: string,
    port: number,
  ): Promise<{ url: string; sent: { path: string; bytes: number }[]; close(): Promise<void> }>;
  transferred(sent: { path: string; bytes: number }[]): Transferred;
  BUDGET: Omit<Transferred, 'other'>;
};

/** Bytes sent to the page (gzip), by kind. */
export interface Transferred {
  readonly javascript: number;
  readonly wasm: number;
  readonly models: number;
  readonly other: number;
  readonly total: number;
}

/** The example page's budget for a first visit (scripts/web.js). */
export const BUDGET = web.BUDGET;

/** Where Chromium is: CHROMIUM_PATH, else `chromium` (or `chromium-browser`) on PATH, as .ci/run looks for it. */
export function chromiumPath(): string {
  const onPath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .flatMap((dir) => ['chromium', 'chromium-browser'].map((name) => path.join(dir, name)));
  const found = [process.env.CHROMIUM_PATH, ...onPath].find(
    (candidate) => candidate !== undefined && candidate !== '' && fs.existsSync(candidate),
  );
  if (found === undefined)
    throw new Error(
      'no Chromium for the browser tests: apt-get install -y --no-install-recommends chromium (or set CHROMIUM_PATH)',
    );
  return found;
}

export interface ExamplePage {
  readonly page: Page;
  readonly url: string;
  /** The example's build folder: tests add their data files under it (served like the page's own). */
  readonly folder: string;
  /** Console errors and uncaught exceptions of the page so far. */
  readonly problems: string[];
  /** What the first visit transferred until the page was ready (its models loaded, its first prediction made). */
  readonly firstVisit: Transferred;
  close(): Promise<void>;
}

/** Builds and serves the example page, opens it in headless Chromium, and waits until its models are loaded. */
export async function openExamplePage(): Promise<ExamplePage> {
  const folder = path.join(tempDir('web-example'), 'site');
  await web.buildExample(folder);
  const server = await web.serveFolder(folder, 0);
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    const firstVisit = web.transferred(server.sent);
    const opened = browser;
    return {
      page,
      url: server.url,
      folder,
      problems,
      firstVisit,
      close: async () => {
        await opened.close();
        await server.close();
      },
    };
  } catch (error) {
    await browser?.close();
    await server.close();
    throw error;
  }
}
