// The run page in a real browser against a real `weft up` (SQLite, its own agent): the graph
// shows every task and follows the run live, a failure shows its error and a red node, a long
// run is cancelled from the page, a read token is not offered cancel, and a mapped task of
// 10,000 children is one node with counts.
//
// The server has tokens from the start (made with `weft token create` before `weft up`), so
// `weft up` gives its agent a token of its own and the page is driven with an admin token or a
// read token.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import {
  register,
  type ServerProcess,
  startUp,
  stopAll,
  summarize,
  waitForRun,
} from "../e2e/e2e-process.ts";
import { runCli } from "../support/cli.ts";
import { browserSkip, launchBrowser, openPage, screenshot } from "./support/browser.ts";

const FLOWS = "test/fixtures/ui/run-flows.ts";

async function makeToken(home: string, name: string, scope: string): Promise<string> {
  const result = await runCli(["token", "create", "--name", name, "--scope", scope, "--json"], {
    env: { WEFT_HOME: home },
  });
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { secret: string }).secret;
}

/** The node of a task in the page's graph. */
const node = (page: Page, slug: string) => page.locator(`.flow-graph [data-task-slug="${slug}"]`);

describe("the run page", { skip: browserSkip }, () => {
  let browser: Browser;
  let up: ServerProcess;
  let api: ApiClient;
  let admin: string;
  let reader: string;
  const flows = new Map<string, string>();
  const home = mkdtempSync(join(tmpdir(), "weft-ui-run-"));

  before(async () => {
    admin = await makeToken(home, "admin", "admin");
    reader = await makeToken(home, "reader", "read");
    [browser, up] = await Promise.all([launchBrowser(), startUp({ home, concurrency: 4 })]);
    api = createApiClient({ url: up.url, token: admin });
    const registered = await register(FLOWS, [], {
      api: up.url,
      home,
      env: { WEFT_API_TOKEN: admin },
    });
    for (const f of registered.flows) flows.set(f.name, f.id);
  });
  after(async () => {
    await browser?.close();
    await stopAll();
    rmSync(home, { recursive: true, force: true });
  });

  async function start(flow: string, parameters: Record<string, string | number> = {}) {
    const flowId = flows.get(flow);
    assert.ok(flowId, `flow ${flow} registered (${[...flows.keys()].join(", ")})`);
    return (await api.createFlowRun({ flowId, parameters })).run;
  }

  test("the graph shows every task and turns green live", async () => {
    const dir = join(home, "gated");
    mkdirSync(dir, { recursive: true });
    const run = await start("ui-gated", { dir });
    const { page, errors } = await openPage(browser, up.url, { token: admin });
    await page.goto(`/runs/${run.id}`);
    for (const slug of ["dir", "prepare-1", "hold-1", "finish-1"]) await node(page, slug).waitFor();
    await page.locator(".run-live-live").waitFor();
    await page.locator('.flow-graph [data-task-slug="hold-1"][data-state="Running"]').waitFor();
    await page.locator('.flow-graph [data-task-slug="prepare-1"][data-state="Success"]').waitFor();
    assert.equal(await node(page, "finish-1").getAttribute("data-state"), "Pending");
    writeFileSync(join(dir, "open"), "");
    await page.locator('.flow-graph [data-task-slug="finish-1"][data-state="Success"]').waitFor();
    await page.locator('.run-page[data-state="Success"]').waitFor();
    await screenshot(page, "run-graph");

    // The node opens its task; its logs are one click away, filtered to it.
    await node(page, "hold-1").click();
    await page.getByRole("button", { name: "Logs of this task" }).click();
    await page.getByText("hold: the file is there").waitFor();
    assert.equal(await page.getByText("prepare: ready").count(), 0, "only the task's lines");
    await page.getByLabel("Level").selectOption("warn");
    await page.getByLabel("Task").selectOption("");
    await page.getByText("hold: the file is there").waitFor();
    assert.equal(
      await page.getByText("hold: waiting for the file").count(),
      0,
      "info is filtered out",
    );
    await screenshot(page, "run-logs");

    await page.getByRole("tab", { name: "Timeline" }).click();
    await page.locator('.timeline-row[data-task-run="hold-1"][data-state="Success"]').waitFor();
    // prepare, hold, finish and the parameter dir.
    assert.equal(await page.locator(".timeline-row .timeline-bar").count(), 4);
    await screenshot(page, "run-timeline");

    await page.getByRole("tab", { name: /Graph/ }).click();
    await page.getByLabel("State").selectOption("Success");
    assert.equal(await page.locator('.task-table tbody tr[data-state="Success"]').count(), 4);
    assert.deepEqual(errors, []);
  });

  test("a failing flow shows its error and the failing node red", async () => {
    const run = await start("ui-failing");
    await waitForRun(api, run.id);
    const { page, errors } = await openPage(browser, up.url, { token: admin, colorScheme: "dark" });
    await page.goto(`/runs/${run.id}`);
    await page.locator('.flow-graph [data-task-slug="boom-1"][data-state="Failed"]').waitFor();
    const colour = await page.evaluate(
      `getComputedStyle(document.querySelector('.flow-graph [data-task-slug="boom-1"] .flow-graph-box')).stroke`,
    );
    assert.equal(colour, "rgb(248, 81, 73)", "the dark theme's --fail");
    await page.getByText("the disk is full (1)").first().waitFor();
    assert.ok(
      (await page.locator(".run-errors .run-stack").first().textContent())?.includes(
        "Error: the disk is full (1)",
      ),
    );
    await screenshot(page, "run-graph-dark");
    assert.deepEqual(errors, []);
  });

  test("a read token sees the run but is not offered cancel; an admin cancels it from the page", async () => {
    const dir = join(home, "long");
    mkdirSync(dir, { recursive: true });
    const run = await start("ui-gated", { dir });
    await waitForRun(api, run.id, {
      until: (r) => r.taskRuns.some((t) => t.slug === "hold-1" && t.state.type === "Running"),
      what: "hold Running",
    });

    const read = await openPage(browser, up.url, { token: reader });
    await read.page.goto(`/runs/${run.id}`);
    await read.page
      .locator('.flow-graph [data-task-slug="hold-1"][data-state="Running"]')
      .waitFor();
    assert.equal(await read.page.getByRole("button", { name: "Cancel run" }).count(), 0);
    assert.equal(await read.page.getByRole("button", { name: /Re-run/ }).count(), 0);

    const { page, errors } = await openPage(browser, up.url, { token: admin });
    await page.goto(`/runs/${run.id}`);
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.getByRole("button", { name: "Yes, cancel the run" }).click();
    const done = await waitForRun(api, run.id, { what: "cancelled" });
    assert.equal(done.state.type, "Cancelled");
    await page.locator('.run-page[data-state="Cancelled"]').waitFor();
    assert.equal(await page.getByRole("button", { name: "Cancel run" }).count(), 0);
    assert.deepEqual(errors, []);
  });

  test("re-running with other parameters checks them by field, then starts the new run", async () => {
    const dir = join(home, "rerun");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "open"), "");
    const run = await start("ui-gated", { dir });
    await waitForRun(api, run.id);
    const { page } = await openPage(browser, up.url, { token: admin });
    await page.goto(`/runs/${run.id}`);
    await page.getByRole("button", { name: "Re-run with other parameters" }).click();
    const field = page.getByRole("textbox", { name: /^dir/ });
    assert.equal(await field.inputValue(), dir, "prefilled with the run's parameters");
    await field.fill("");
    await page.getByRole("button", { name: "Start the run" }).click();
    await page.locator('[data-parameter="dir"] .field-error').getByText("is required").waitFor();
    await field.fill(dir);
    await page.getByRole("button", { name: "Start the run" }).click();
    await page.waitForURL(
      (url) => url.pathname.startsWith("/runs/") && !url.pathname.endsWith(run.id),
    );
    await page.locator('.run-page[data-state="Success"]').waitFor();
  });

  test("a failed run is re-run from failure from the page", async () => {
    const dir = join(home, "resume");
    mkdirSync(dir, { recursive: true });
    const run = await start("ui-resumable", { dir });
    const failed = await waitForRun(api, run.id);
    assert.equal(failed.state.type, "Failed", summarize(failed));
    const { page, errors } = await openPage(browser, up.url, { token: admin });
    await page.goto(`/runs/${run.id}`);
    await page.locator('.flow-graph [data-task-slug="flaky-1"][data-state="Failed"]').waitFor();
    writeFileSync(join(dir, "fixed"), "");
    await page.getByRole("button", { name: "Re-run from failure" }).click();
    await page.waitForURL(
      (url) => url.pathname.startsWith("/runs/") && !url.pathname.endsWith(run.id),
    );
    const resumedId = new URL(page.url()).pathname.split("/").pop()!;
    await page.locator('.run-page[data-state="Success"]').waitFor();
    await page.locator('.flow-graph [data-task-slug="flaky-1"][data-state="Success"]').waitFor();
    assert.equal((await api.getFlowRun(resumedId)).resumedFrom, run.id);
    assert.deepEqual(errors, []);
  });

  test("a mapped task of 10,000 children is one node with counts, its children a virtualized list", async () => {
    const run = await start("ui-mapped", { count: 10_000 });
    await waitForRun(api, run.id, { timeoutMs: 180_000 });
    const { page, errors } = await openPage(browser, up.url, { token: admin });
    await page.goto(`/runs/${run.id}`);
    const square = node(page, "square-1");
    await square.waitFor();
    assert.equal(await square.count(), 1);
    assert.equal(await square.getAttribute("data-children"), "10000");
    // Its tooltip (a <title>, made only while the pointer is over the node) gives the counts.
    assert.equal(await page.locator(".flow-graph [data-task-slug] title").count(), 0);
    await square.hover();
    assert.match((await square.locator("title").textContent()) ?? "", /Success 10,000/);
    assert.equal(
      await page.locator(".flow-graph [data-task-slug]").count(),
      4,
      "count, items, square, total",
    );
    await square.click();
    await page.locator(".task-panel-counts").getByText("10,000 children: Success 10,000").waitFor();
    const rows = await page.locator(".child-list li").count();
    assert.ok(rows > 0 && rows < 100, `${rows} child rows in the DOM`);
    assert.ok((await page.locator(".task-table tbody tr").count()) <= 100, "the table is paged");
    assert.deepEqual(errors, []);
  });
});
