// The app shell in a real browser against a real `weft up`: every view has its own URL
// (history routing), navigation moves between them, the theme switches.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { type ServerProcess, startUp, stopAll } from "../e2e/e2e-process.ts";
import { browserSkip, launchBrowser, openPage } from "./support/browser.ts";

describe("the web UI's shell", { skip: browserSkip }, () => {
  let browser: Browser;
  let up: ServerProcess;
  const home = mkdtempSync(join(tmpdir(), "weft-ui-shell-"));
  before(async () => {
    [browser, up] = await Promise.all([launchBrowser(), startUp({ home, noAgent: true })]);
  });
  after(async () => {
    await browser?.close();
    await stopAll();
    rmSync(home, { recursive: true, force: true });
  });

  test("a view opened by its URL is that view, and the navigation reaches the others", async () => {
    const { page, errors } = await openPage(browser, up.url);
    await page.goto("/settings");
    await page.getByRole("link", { name: "Runs" }).click();
    await page.waitForURL("**/runs");
    await page.getByRole("link", { name: "Flows" }).click();
    await page.waitForURL("**/flows");
    assert.equal(new URL(page.url()).pathname, "/flows");
    assert.deepEqual(errors, []);
  });

  test("the theme switches between light and dark", async () => {
    const { page } = await openPage(browser, up.url);
    await page.goto("/");
    const theme = () => page.locator("html").getAttribute("data-theme");
    assert.equal(await theme(), "light");
    await page.getByRole("button", { name: /dark theme/ }).click();
    assert.equal(await theme(), "dark");
  });
});
