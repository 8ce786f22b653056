// The dashboard, flows, a flow, and runs pages in a real browser against a real `weft up`
// (SQLite, its own agent, no tokens): example flows registered and run; the dashboard shows
// a failure with its failing task and message, and (with a test Redis) a distributed worker;
// a run started from the form generated from the flow's parameters (a wrong type refused by
// that field in the browser, a value only the server refuses shown by its field, then the
// right values → the run's page); the runs list filters by state and flow in the URL; a run
// made meanwhile appears in the list.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { register, type ServerProcess, startUp, stopAll, waitForRun } from "../e2e/e2e-process.ts";
import {
  dropPrefix,
  reapWorkers,
  redisUrl,
  startWorkers,
  uniquePrefix,
  type WorkerProcess,
} from "../fixtures/distributed/worker-processes.ts";
import { browserSkip, launchBrowser, openPage, screenshot } from "./support/browser.ts";

const FIXTURE = "test/fixtures/ui/pages-flows.ts";

describe("the web UI's pages", { skip: browserSkip }, () => {
  let browser: Browser;
  let up: ServerProcess;
  const home = mkdtempSync(join(tmpdir(), "weft-ui-pages-"));
  let failedId = "";
  let okId = "";
  // With a test Redis, a distributed worker the dashboard lists (the server is given its Redis).
  const prefix = uniquePrefix("ui-pages");
  let workers: WorkerProcess[] = [];
  before(async () => {
    const redis = redisUrl === undefined ? [] : ["--redis", redisUrl, "--redis-prefix", prefix];
    [browser, up, workers] = await Promise.all([
      launchBrowser(),
      startUp({ home, args: redis }),
      redisUrl === undefined ? [] : startWorkers(1, { prefix, home, queues: ["default", "gpu"] }),
    ]);
    await register(FIXTURE, [], { api: up.url, home });
    const [failed, ok] = await Promise.all([
      up.api.createFlowRun({ flowName: "ui-failing" }),
      up.api.createFlowRun({ flowName: "ui-params", parameters: { times: 2 } }),
    ]);
    failedId = failed.run.id;
    okId = ok.run.id;
    const [f, o] = await Promise.all([
      waitForRun(up.api, failedId, { processes: [up] }),
      waitForRun(up.api, okId, { processes: [up] }),
    ]);
    assert.equal(f.state.type, "Failed");
    assert.equal(o.state.type, "Success");
  });
  after(async () => {
    await browser?.close();
    await stopAll();
    reapWorkers();
    await dropPrefix(prefix);
    rmSync(home, { recursive: true, force: true });
  });

  test("the dashboard shows the failure with its failing task and message, the agent, the runs per hour", async () => {
    const { page } = await openPage(browser, up.url);
    await page.goto("/");
    const failure = page.locator(`#failures tr[data-run-id="${failedId}"]`);
    await failure.waitFor();
    assert.equal(await failure.getAttribute("data-state"), "Failed");
    assert.match((await failure.textContent()) ?? "", /load-1/);
    assert.match((await failure.textContent()) ?? "", /no rows in warehouse\.sales/);
    await page.locator("#agents tbody tr").first().waitFor();
    const worker = workers[0];
    if (worker === undefined) await page.getByText("Start the server with").waitFor();
    else {
      const row = page.locator(`#workers tr[data-worker="${worker.name}"]`);
      await row.waitFor();
      assert.match(
        (await row.textContent()) ?? "",
        new RegExp(`default.*gpu.*0 / 4.*pid ${worker.pid}`),
      );
    }
    // Every finished run is in some bar of the chart.
    let total = 0;
    for (const bar of await page.locator("[data-bucket]").all())
      total += Number(await bar.getAttribute("data-total"));
    assert.equal(total, 2);
    await screenshot(page, "dashboard");

    const dark = await openPage(browser, up.url, { colorScheme: "dark" });
    await dark.page.goto("/");
    await dark.page.locator(`#failures tr[data-run-id="${failedId}"]`).waitFor();
    assert.equal(await dark.page.locator("html").getAttribute("data-theme"), "dark");
    await screenshot(dark.page, "dashboard-dark");
  });

  test("the flows list links to a flow: its versions, its graph, its recent runs", async () => {
    const { page } = await openPage(browser, up.url);
    await page.goto("/flows");
    await page.locator('tr[data-flow="ui-failing"]').waitFor();
    await screenshot(page, "flows");
    await page.getByRole("link", { name: "ui-params" }).click();
    await page.waitForURL("**/flows/ui-params");
    await page.locator('#versions tr[data-active="true"]').waitFor();
    await page.locator('[data-task-slug="greet-1"]').waitFor();
    await page.locator(`tr[data-run-id="${okId}"]`).waitFor();
  });

  test("start a run from the form: a wrong type refused by its field, then the run's page", async () => {
    const { page } = await openPage(browser, up.url);
    const before = (await up.api.listFlowRuns({ flowName: "ui-params" })).items.length;
    await page.goto("/flows/ui-params");
    const times = page.getByLabel(/^times/);
    await times.waitFor();
    await screenshot(page, "flow");
    // Required and typed: the browser refuses, by the field, before sending anything.
    await page.getByRole("button", { name: "Start run" }).click();
    await page.locator("#param-times-error").getByText("required").waitFor();
    await times.fill("two");
    await page.getByRole("button", { name: "Start run" }).click();
    await page
      .locator("#param-times-error")
      .getByText(/whole number/)
      .waitFor();
    assert.equal(await times.getAttribute("aria-invalid"), "true");
    assert.equal((await up.api.listFlowRuns({ flowName: "ui-params" })).items.length, before);
    // The right value: the run's page.
    await times.fill("3");
    await page.getByLabel(/^name/).fill("weft");
    await page.getByRole("button", { name: "Start run" }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
    const run = await up.api.getFlowRun(id);
    assert.deepEqual(run.parameters, { name: "weft", times: 3, loud: false });
  });

  test("a value only the server refuses (the flow changed under the form) is shown by its field", async () => {
    const { page } = await openPage(browser, up.url);
    await page.goto("/flows/ui-changing");
    const size = page.getByLabel(/^size/);
    await size.fill("5");
    await register("test/fixtures/ui/pages-flows-v2.ts", [], { api: up.url, home });
    await page.getByRole("button", { name: "Start run" }).click();
    await page
      .locator("#param-size-error")
      .getByText(/parameter "size" of flow "ui-changing" must be a string/)
      .waitFor();
    assert.equal(await size.getAttribute("aria-invalid"), "true");
  });

  test("the runs list filters by state and flow in the URL, and shows a new run live", async () => {
    const { page } = await openPage(browser, up.url);
    await page.goto("/runs");
    await page.locator(`tr[data-run-id="${failedId}"]`).waitFor();
    await page.locator(`tr[data-run-id="${okId}"]`).waitFor();
    await screenshot(page, "runs");

    await page.getByLabel("State").selectOption("Failed");
    await page.waitForURL(/[?&]state=Failed/);
    await page.locator(`tr[data-run-id="${okId}"]`).waitFor({ state: "detached" });
    const states: (string | null)[] = [];
    for (const row of await page.locator("tr[data-run-id]").all())
      states.push(await row.getAttribute("data-state"));
    assert.deepEqual(states, ["Failed"]);

    await page.getByLabel("State").selectOption("");
    await page.getByLabel("Flow").selectOption("ui-params");
    await page.waitForURL(/[?&]flow=ui-params/);
    assert.doesNotMatch(page.url(), /state=/);
    await page.locator(`tr[data-run-id="${failedId}"]`).waitFor({ state: "detached" });
    await page.locator(`tr[data-run-id="${okId}"]`).waitFor();

    // A shared URL opens the same view.
    const shared = await openPage(browser, up.url);
    await shared.page.goto("/runs?state=Failed&flow=ui-failing");
    await shared.page.locator(`tr[data-run-id="${failedId}"]`).waitFor();
    assert.equal(await shared.page.getByLabel("State").inputValue(), "Failed");

    // Live: a run created now appears without a reload.
    const { run } = await up.api.createFlowRun({ flowName: "ui-params", parameters: { times: 1 } });
    await page.locator(`tr[data-run-id="${run.id}"]`).waitFor({ timeout: 15_000 });
  });
});
