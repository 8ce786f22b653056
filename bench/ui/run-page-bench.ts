// The run page of a 1,000-task run in Chromium against a real `weft up`: from navigation to
// every node drawn, and from a click on a node to its task panel (interactive), medians of
// the repetitions. Budget: interactive ≤ 1.5 s.
//
//   WEFT_TEST_BROWSER=/usr/bin/chromium node --import tsx --conditions=weftflow-source \
//     bench/ui/run-page-bench.ts [repetitions=5]
//
// It runs dist/ (npm run build first).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { register, startUp, stopAll, waitForRun } from "../../test/e2e/e2e-process.ts";
import { launchBrowser, openPage } from "../../test/ui/support/browser.ts";

const repetitions = Number(process.argv[2] ?? 5);
const home = mkdtempSync(join(tmpdir(), "weft-ui-bench-"));
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const [browser, up] = await Promise.all([launchBrowser(), startUp({ home, concurrency: 2 })]);
  const registered = await register("test/fixtures/ui/wide-flow.ts", [], { api: up.url, home });
  const { run } = await up.api.createFlowRun({ flowId: registered.flows[0]!.id });
  await waitForRun(up.api, run.id, { timeoutMs: 300_000 });
  const drawn: number[] = [];
  const interactive: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const { page, context } = await openPage(browser, up.url);
    const t0 = Date.now();
    await page.goto(`/runs/${run.id}`);
    await page.locator('.flow-graph[data-tasks="1000"] [data-task-slug="step-950"]').waitFor();
    drawn.push(Date.now() - t0);
    await page.locator('[data-task-slug="seed-1"]').dispatchEvent("click");
    await page.locator('.task-panel[data-task-slug="seed-1"]').waitFor();
    interactive.push(Date.now() - t0);
    await context.close();
  }
  const layout = await (async () => {
    const { page, context } = await openPage(browser, up.url);
    await page.goto(`/runs/${run.id}`);
    const engine = await page.locator(".flow-graph").getAttribute("data-layout");
    await context.close();
    return engine;
  })();
  console.log(
    `run page, 1,000 tasks (${layout} layout): all nodes drawn median ${median(drawn)} ms [${drawn.join(" ")}]; interactive (click → task panel) median ${median(interactive)} ms [${interactive.join(" ")}]`,
  );
  await browser.close();
} finally {
  await stopAll();
  rmSync(home, { recursive: true, force: true });
}
