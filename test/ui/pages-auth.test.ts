// Signing in, scopes and token management in a real browser against a real `weft up` that
// has tokens (made through the API while it was still open): any 401 sends the user to
// /sign-in, a read token sees the pages but is not offered what it may not do (start a run,
// manage tokens or limits), sign-out forgets the token; an admin creates a token (its
// secret shown once, and it works), revokes it, and sets and deletes a concurrency limit.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { ApiError, createApiClient } from "../../src/client/api-client.ts";
import { register, type ServerProcess, startUp, stopAll } from "../e2e/e2e-process.ts";
import { browserSkip, launchBrowser, openPage, screenshot } from "./support/browser.ts";

describe("the web UI with tokens", { skip: browserSkip }, () => {
  let browser: Browser;
  let up: ServerProcess;
  const home = mkdtempSync(join(tmpdir(), "weft-ui-auth-"));
  let admin = "";
  let read = "";
  before(async () => {
    [browser, up] = await Promise.all([launchBrowser(), startUp({ home, noAgent: true })]);
    admin = (await up.api.createToken({ name: "admin", scopes: ["admin"] })).secret;
    read = (await up.api.createToken({ name: "viewer", scopes: ["read"] })).secret;
    await register("test/fixtures/ui/pages-flows.ts", [], {
      api: up.url,
      home,
      env: { WEFT_API_TOKEN: admin },
    });
  });
  after(async () => {
    await browser?.close();
    await stopAll();
    rmSync(home, { recursive: true, force: true });
  });

  test("a 401 sends to sign-in; a read token is not offered start-run or token management; sign out", async () => {
    const { page } = await openPage(browser, up.url);
    await page.goto("/flows/ui-params");
    await page.waitForURL(/\/sign-in\?next=%2Fflows%2Fui-params$/);
    const field = page.getByLabel("Token");
    assert.equal(await field.getAttribute("type"), "password");
    await field.fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page
      .getByRole("alert")
      .getByText(/does not know this token/)
      .waitFor();

    await field.fill(read);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/flows\/ui-params$/);
    assert.doesNotMatch(page.url(), new RegExp(read));
    await page.getByText("viewer (read)").waitFor();
    // The graph shows (the page loaded), the form is not offered.
    await page.locator('[data-task-slug="greet-1"]').waitFor();
    assert.equal(await page.getByRole("heading", { name: "Start a run" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Start run" }).count(), 0);

    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { name: "Concurrency limits" }).waitFor();
    assert.equal(await page.getByRole("heading", { name: "API tokens" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Set limit" }).count(), 0);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/sign-in$/);
    assert.equal(await page.evaluate("sessionStorage.getItem('weft.token')"), null);
  });

  test("an admin creates a token (secret shown once, and it works), revokes it, sets and deletes a limit", async () => {
    const { page } = await openPage(browser, up.url, { token: admin });
    await page.goto("/settings");
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    await page.getByLabel("Name").fill("ci-bot");
    await page.getByLabel("Scope").selectOption("agent");
    await page.getByRole("button", { name: "Create token" }).click();
    const secret = (await page.locator("[data-secret]").textContent())?.trim() ?? "";
    assert.ok(secret.length > 10, `a secret is shown: ${JSON.stringify(secret)}`);
    const bot = createApiClient({ url: up.url, token: secret });
    assert.equal((await bot.getSession()).scope, "agent");
    const row = page.locator('tr[data-token="ci-bot"]');
    await row.waitFor();
    assert.equal(await row.getAttribute("data-revoked"), "false");

    await page.getByLabel("Tag").fill("warehouse");
    await page.getByLabel("Limit", { exact: true }).fill("2");
    await page.getByRole("button", { name: "Set limit" }).click();
    await page.locator('tr[data-limit="warehouse"]').waitFor();
    await page.getByRole("button", { name: "Done" }).click();
    await screenshot(page, "settings");

    await page.getByRole("button", { name: "Revoke ci-bot" }).click();
    await page.locator('tr[data-token="ci-bot"][data-revoked="true"]').waitFor();
    // Revocation takes effect within the server's token cache time (2 s).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const refused = await bot.getSession().then(
        () => false,
        (error: unknown) => error instanceof ApiError && error.status === 401,
      );
      if (refused) break;
      assert.ok(Date.now() < deadline, "the revoked token still works after 10 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    await page.getByRole("button", { name: "Delete the limit of warehouse" }).click();
    await page.locator('tr[data-limit="warehouse"]').waitFor({ state: "detached" });
    assert.deepEqual(
      await createApiClient({ url: up.url, token: admin }).listConcurrencyLimits(),
      [],
    );
  });
});
