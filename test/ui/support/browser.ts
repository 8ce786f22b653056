// Browser tests: Debian's Chromium driven by playwright-core, against a real `weft up`.
//
// The browser's path comes from WEFT_TEST_BROWSER (CI sets /usr/bin/chromium and fails
// when it is missing); without it, browser tests skip with one line that says so.
// Chromium starts with the flags this sandbox needs: no sandbox (tests run as root), no
// GPU, and none of its background connections (the network here is closed).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { repoRoot } from "../../support/weft-process.ts";

/** The Chromium to drive, or undefined (tests skip). */
export const BROWSER_PATH = process.env.WEFT_TEST_BROWSER || undefined;

/** Why browser tests skip here, or undefined when they run. */
export const browserSkip: string | undefined =
  BROWSER_PATH === undefined
    ? "WEFT_TEST_BROWSER is not set (the path of a Chromium, e.g. /usr/bin/chromium)"
    : undefined;

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Starts Chromium (once per test file: close it in the file's `after`). */
export async function launchBrowser(): Promise<Browser> {
  if (BROWSER_PATH === undefined) throw new Error(browserSkip);
  const browser = await chromium.launch({
    executablePath: BROWSER_PATH,
    headless: true,
    args: FLAGS,
    timeout: 60_000,
  });
  return browser;
}

/** A page with its own context (cookies, sessionStorage), and the errors its console printed. */
export interface TestPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Uncaught errors and console errors of the page, to assert none happened. */
  readonly errors: string[];
}

/** Opens a fresh context and page; `token` is put in the tab's session as sign-in would. */
export async function openPage(
  browser: Browser,
  baseUrl: string,
  options: { token?: string; colorScheme?: "light" | "dark" } = {},
): Promise<TestPage> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: { width: 1400, height: 900 },
    colorScheme: options.colorScheme ?? "light",
  });
  if (options.token !== undefined) {
    await context.addInitScript((token) => {
      sessionStorage.setItem("weft.token", token);
    }, options.token);
  }
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  return { page, context, errors };
}

/** Where tests save screenshots for the docs (docs/images), made when WEFT_UI_SCREENSHOTS=1. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.WEFT_UI_SCREENSHOTS !== "1") return;
  const dir = join(repoRoot, "docs", "images");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}
