// The web UI's budgets (issue 17), measured in Chromium against a real `weft up` on SQLite:
//
//   npm run bench:ui -- [--runs 100000] [--tasks 1000] [--changes 50] [--repeat 5]
//
// (a) runs page, first load with `--runs` runs in the database: first contentful paint and
//     the first run row (`[data-run-id]`) in the DOM, ms from navigation start, each load in a
//     fresh browser context (no cache). Budget: ≤ 1000 ms.
// (b) run page of a run with `--tasks` task runs, each of its two big tabs loaded on its own:
//     until the graph shows every task (`[data-task-slug]`), or the task table (`?tab=tasks`)
//     has rows (`tr[data-task-run]`); and until the page is interactive: the later of that and
//     the end of the last long task (> 50 ms) of the main thread, read once the main thread has
//     gone a second without one. Budget: interactive ≤ 1500 ms.
// (c) in the open run page, `--changes` task-run state writes through the API, one at a
//     time: from the write's answer (the server has committed it) to the graph node's
//     `data-state` changing (a MutationObserver in the page stamps it), p50 / p99; also
//     from the moment the request was sent. Budget: ≤ 500 ms.
// (d) the built UI's JavaScript: dist/ui/assets/*.js, each through gzip -9, summed. Budget ≤ 400 KB.
//
// The database is filled before `weft up` starts, through ServerDb: the runs with
// `runs.createScheduled` (multi-row inserts, 5,000 runs a transaction), then one SQL update
// gives them final states (Success, Failed, Cancelled) as a mix; the big run's task runs with
// one `taskRuns.setStates` batch. `weft up` runs dist/ (rebuild it with `npm run build`,
// which also builds dist/ui) with no agent, so nothing moves but what the bench writes.
// Chromium: WEFT_TEST_BROWSER, else /usr/bin/chromium. A table on stdout; progress and the
// load average on stderr. Medians over `--repeat` loads.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import type { Browser, Page } from "playwright-core";
import type { TaskRunStateWrite } from "../../src/serialization/api-schemas.ts";
import type { SerializedFlow } from "../../src/serialization/schemas.ts";
import { openServerDb } from "../../src/server/db/open-server-db.ts";
import {
  removeTempDirs,
  type ServerProcess,
  startUp,
  stopAll,
  tempDir,
} from "../../test/e2e/e2e-process.ts";
import { repoRoot } from "../../test/support/weft-process.ts";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const RUNS = option("--runs", 100_000);
const TASKS = option("--tasks", 1000);
const CHANGES = option("--changes", 50);
const REPEAT = option("--repeat", 5);
/** --profile: a CPU profile of the last load of each run page tab; its top functions go to stderr. */
const PROFILE = process.argv.includes("--profile");

const log = (line: string) => process.stderr.write(`${line}\n`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}
const median = (values: readonly number[]) => percentile(values, 50);
/** Wall-clock ms since the epoch, sub-millisecond (Chromium's page clock reads the same). */
const epochMs = () => performance.timeOrigin + performance.now();

const TASK_OPTIONS = {
  retries: 0,
  retryDelay: 0,
  trigger: "all_successful",
  skipOnUpstreamSkip: true,
  cacheKey: false,
  tags: [],
} as const;

/** A flow of `n` tasks: layers of 50, each task feeding the same and the next one below. */
function bigFlow(name: string, n: number): SerializedFlow {
  const width = 50;
  const slug = (i: number) => `task-${i}`;
  const tasks = Array.from({ length: n }, (_, i) => ({
    slug: slug(i),
    name: `task ${i}`,
    kind: "task" as const,
    mapped: false,
    options: { ...TASK_OPTIONS, tags: [] },
  }));
  const edges: SerializedFlow["edges"] = [];
  for (let i = width; i < n; i++) {
    edges.push({ upstream: slug(i - width), downstream: slug(i), key: 0, mapped: false });
    const other = i - width + 1;
    if (other % width !== 0 && other < i)
      edges.push({ upstream: slug(other), downstream: slug(i), key: 1, mapped: false });
  }
  return {
    schemaVersion: 1,
    name,
    parameters: [],
    tasks,
    edges,
    referenceTasks: [],
    labels: [],
  } as unknown as SerializedFlow;
}

function smallFlow(name: string): SerializedFlow {
  return {
    schemaVersion: 1,
    name,
    parameters: [],
    tasks: [{ slug: "only", name: "only", kind: "task", mapped: false, options: TASK_OPTIONS }],
    edges: [],
    referenceTasks: [],
    labels: [],
  } as unknown as SerializedFlow;
}

interface Seeded {
  readonly bigRunId: string;
  /** Slugs of the big run's tasks with no task run yet (for the changes of (c)). */
  readonly untouched: string[];
}

/** Fills the database before `weft up` opens it. */
async function seed(dbPath: string): Promise<Seeded> {
  const started = performance.now();
  const db = await openServerDb({ db: dbPath });
  try {
    const many = await db.flows.register(smallFlow("bench-many-runs"));
    const now = Date.now();
    for (let done = 0; done < RUNS; ) {
      const count = Math.min(5000, RUNS - done);
      const times = Array.from({ length: count }, (_, i) => new Date(now - (done + i) * 60_000));
      await db.runs.createScheduled(many.flow.id, times);
      done += count;
    }
    const big = await db.flows.register(bigFlow("bench-big-run", TASKS));
    const { run } = await db.runs.create({ flowId: big.flow.id });
    const at = new Date().toISOString();
    const touched = TASKS - Math.max(CHANGES, 0);
    const writes: TaskRunStateWrite[] = [];
    for (let i = 0; i < touched; i++) {
      writes.push({
        flowRunId: run.id,
        slug: `task-${i}`,
        state: {
          schemaVersion: 1,
          type: i % 17 === 0 ? "Failed" : "Success",
          timestamp: at,
          startedAt: at,
        } as TaskRunStateWrite["state"],
        version: 0,
      });
    }
    if (writes.length > 0) await db.taskRuns.setStates(writes);
    const untouched = Array.from({ length: TASKS - touched }, (_, i) => `task-${touched + i}`);
    log(
      `seeded ${RUNS} runs and a run of ${TASKS} tasks in ${Math.round(performance.now() - started)} ms`,
    );
    await db.close();
    // Final states for the many runs, as a mix: one statement (none of them is claimable then).
    const sqlite = new Database(dbPath);
    try {
      sqlite
        .prepare(
          `update flow_runs set
             state_type = case rowid % 10 when 0 then 'Failed' when 1 then 'Cancelled' else 'Success' end
           where flow_id = ?`,
        )
        .run(many.flow.id);
      sqlite
        .prepare(
          `update flow_runs set
             state = json_object('schemaVersion', 1, 'type', state_type, 'timestamp', scheduled_start),
             start_time = scheduled_start, end_time = scheduled_start, version = 2
           where flow_id = ?`,
        )
        .run(many.flow.id);
    } finally {
      sqlite.close();
    }
    return { bigRunId: run.id, untouched };
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}

/**
 * What the page records from its first script on: when the first run row, the graph's
 * nodes and the table's rows appear; long tasks; and each `data-state` change of a node.
 */
const PAGE_PROBE = `
(() => {
  const bench = { marks: {}, longTaskEnd: 0, changes: [], tasks: ${TASKS} };
  window.__bench = bench;
  const mark = (name) => { if (bench.marks[name] === undefined) bench.marks[name] = performance.now(); };
  const check = () => {
    if (bench.marks.firstRow === undefined && document.querySelector("[data-run-id]")) mark("firstRow");
    if (bench.marks.graph === undefined &&
        document.querySelectorAll(".flow-graph [data-task-slug], [data-task-slug]").length >= bench.tasks) mark("graph");
    if (bench.marks.table === undefined && document.querySelector("tr[data-task-run]")) mark("table");
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes" && r.attributeName === "data-state" && r.target.hasAttribute("data-task-slug"))
        bench.changes.push({ slug: r.target.getAttribute("data-task-slug"), state: r.target.getAttribute("data-state"),
          at: performance.timeOrigin + performance.now() });
    }
    check();
  }).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-state"] });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) bench.longTaskEnd = Math.max(bench.longTaskEnd, e.startTime + e.duration);
    }).observe({ type: "longtask", buffered: true });
  } catch {}
})();
`;

/** What the probe keeps in the page. */
interface PageBench {
  __bench: {
    marks: Record<string, number | undefined>;
    longTaskEnd: number;
    changes: { slug: string; state: string; at: number }[];
  };
}

interface Marks {
  marks: Record<string, number | undefined>;
  longTaskEnd: number;
  fcp: number | undefined;
  /** When the app's scripts had all arrived, and the runs list call's start and end (resource timing). */
  script: number | undefined;
  listStart: number | undefined;
  listEnd: number | undefined;
}

async function marksOf(page: Page): Promise<Marks> {
  return (await page.evaluate(`({
    marks: window.__bench.marks,
    longTaskEnd: window.__bench.longTaskEnd,
    fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime,
    script: Math.max(...performance.getEntriesByType("resource").filter((e) => /\\/assets\\/.*\\.js$/.test(e.name)).map((e) => e.responseEnd)),
    listStart: performance.getEntriesByType("resource").find((e) => e.name.includes("/api/flow-runs?"))?.startTime,
    listEnd: performance.getEntriesByType("resource").find((e) => e.name.includes("/api/flow-runs?"))?.responseEnd,
  })`)) as Marks;
}

async function freshPage(browser: Browser): Promise<Page> {
  // bypassCSP: Playwright's waitForFunction polls through eval, which the UI's CSP forbids.
  const context = await browser.newContext({
    viewport: { width: 1400, height: 900 },
    bypassCSP: true,
  });
  await context.addInitScript(PAGE_PROBE);
  context.setDefaultTimeout(60_000);
  const page = await context.newPage();
  page.on("pageerror", (error) => log(`page error: ${error.message}`));
  return page;
}

/** (a) */
async function runsPage(browser: Browser, up: ServerProcess) {
  const fcp: number[] = [];
  const firstRow: number[] = [];
  const script: number[] = [];
  const list: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const page = await freshPage(browser);
    try {
      await page.goto(`${up.url}/runs`);
      await page.waitForSelector("[data-run-id]");
      const m = await marksOf(page);
      if (m.fcp !== undefined) fcp.push(m.fcp);
      if (m.marks.firstRow !== undefined) firstRow.push(m.marks.firstRow);
      if (m.script !== undefined) script.push(m.script);
      if (m.listStart !== undefined && m.listEnd !== undefined) list.push(m.listEnd - m.listStart);
    } finally {
      await page.context().close();
    }
  }
  return { fcp, firstRow, script, list };
}

/**
 * (b) for one tab of the run page (the graph, the default, or the task table, `?tab=tasks`),
 * leaving the last page open for (c).
 */
async function runPage(browser: Browser, up: ServerProcess, runId: string, tab: "graph" | "table") {
  const content: number[] = [];
  const interactive: number[] = [];
  let open: Page | undefined;
  for (let i = 0; i < REPEAT; i++) {
    const page = await freshPage(browser);
    const cdp = PROFILE && i === REPEAT - 1 ? await page.context().newCDPSession(page) : undefined;
    if (cdp !== undefined) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
      await cdp.send("Profiler.start");
    }
    await page.goto(`${up.url}/runs/${runId}${tab === "table" ? "?tab=tasks" : ""}`);
    await page
      .waitForFunction(
        (mark) => (globalThis as unknown as PageBench).__bench.marks[mark] !== undefined,
        tab,
      )
      .catch(async (error: unknown) => {
        const text = ((await page.locator("body").textContent()) ?? "").slice(0, 600);
        throw new Error(`the ${tab} never showed; the page says: ${text}`, { cause: error });
      });
    // Let the page settle (its event stream keeps the network busy, so not "networkidle"):
    // a second with no long task on the main thread, so that those of its first render are all seen.
    await page.waitForFunction(
      (mark) => {
        const bench = (globalThis as unknown as PageBench).__bench;
        const quietSince = Math.max(bench.marks[mark] ?? 0, bench.longTaskEnd);
        return performance.now() - quietSince > 1000;
      },
      tab,
      { polling: 100 },
    );
    if (cdp !== undefined) topFunctions(tab, (await cdp.send("Profiler.stop")).profile);
    const m = await marksOf(page);
    const ready = m.marks[tab]!;
    content.push(ready);
    interactive.push(Math.max(ready, m.longTaskEnd));
    if (open !== undefined) await open.context().close();
    open = page;
  }
  if (tab === "table") await open!.context().close();
  return { content, interactive, page: open! };
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** Logs the functions that took the most self time in a page's CPU profile. */
function topFunctions(what: string, profile: CpuProfile): void {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const frame = byNode.get(samples[i]!)?.callFrame;
    const ms = (deltas[i] ?? 0) / 1000;
    total += ms;
    if (frame === undefined) continue;
    const file = frame.url.split("/").pop() ?? "";
    // The column too: the minified bundle is a few very long lines.
    const key = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + ms);
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 12);
  log(`profile of the run page (${what}), ${total.toFixed(0)} ms sampled; self time:`);
  for (const [key, ms] of top) log(`  ${ms.toFixed(0).padStart(6)} ms  ${key}`);
}

/** (c) */
async function changes(page: Page, up: ServerProcess, runId: string, slugs: readonly string[]) {
  const fromAnswer: number[] = [];
  const fromSend: number[] = [];
  for (const slug of slugs) {
    const at = new Date().toISOString();
    const sent = epochMs();
    await up.api.setTaskRunStates([
      {
        flowRunId: runId,
        slug,
        state: { schemaVersion: 1, type: "Running", timestamp: at } as TaskRunStateWrite["state"],
        version: 0,
      },
    ]);
    const answered = epochMs();
    const seen = (await (
      await page.waitForFunction(
        (s) =>
          (globalThis as unknown as PageBench).__bench.changes.find(
            (c) => c.slug === s && c.state === "Running",
          )?.at,
        slug,
      )
    ).jsonValue()) as number;
    fromAnswer.push(seen - answered);
    fromSend.push(seen - sent);
  }
  return { fromAnswer, fromSend };
}

/** (d) */
function bundleSize(): { files: number; raw: number; gzip: number } {
  const dir = join(repoRoot, "dist", "ui", "assets");
  let raw = 0;
  let gzip = 0;
  let files = 0;
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(".js")) continue;
    const bytes = readFileSync(join(dir, name));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
    files++;
  }
  return { files, raw, gzip };
}

async function main(): Promise<void> {
  if (!existsSync(join(repoRoot, "dist", "ui", "index.html"))) {
    log("dist/ui is not built: run `npm run build` (or `node scripts/build.js --ui`) first");
    process.exit(2);
  }
  const size = bundleSize();
  log(`load average before: ${load()}`);
  const home = tempDir("ui-bench");
  const dbPath = join(home, "weft.db");
  const seeded = await seed(dbPath);
  process.env.WEFT_TEST_BROWSER ||= "/usr/bin/chromium";
  const { launchBrowser } = await import("../../test/ui/support/browser.ts");
  const up = await startUp({
    home,
    db: dbPath,
    noAgent: true,
    // Nothing is heartbeating the big run: run health must leave it alone.
    loops: { heartbeatTimeoutMs: 86_400_000, submittedTimeoutMs: 86_400_000 },
  });
  const browser = await launchBrowser();
  const rows: [string, string, string][] = [];
  try {
    log("(a) runs page…");
    const a = await runsPage(browser, up);
    rows.push([
      `(a) /runs first contentful paint, ${RUNS} runs`,
      `${median(a.fcp).toFixed(0)} ms`,
      "≤ 1000 ms",
    ]);
    rows.push([
      `(a) /runs first run row, ${RUNS} runs`,
      `${median(a.firstRow).toFixed(0)} ms`,
      "≤ 1000 ms",
    ]);
    // Where (a)'s time goes: the app's script arriving, and the first page of runs from the API.
    if (a.script.length > 0)
      rows.push([
        "(a) of which: the app's script received",
        `${median(a.script).toFixed(0)} ms`,
        "",
      ]);
    if (a.list.length > 0)
      rows.push([
        "(a) of which: GET /api/flow-runs (first page)",
        `${median(a.list).toFixed(0)} ms`,
        "",
      ]);
    log("(b) run page…");
    const table = await runPage(browser, up, seeded.bigRunId, "table");
    const b = await runPage(browser, up, seeded.bigRunId, "graph");
    for (const [name, r] of [
      ["graph", b],
      ["task table", table],
    ] as const) {
      rows.push([
        `(b) run page of ${TASKS} tasks, ${name}: shown`,
        `${median(r.content).toFixed(0)} ms`,
        "",
      ]);
      rows.push([
        `(b) run page of ${TASKS} tasks, ${name}: interactive`,
        `${median(r.interactive).toFixed(0)} ms`,
        "≤ 1500 ms",
      ]);
    }
    log("(c) state changes…");
    const c = await changes(b.page, up, seeded.bigRunId, seeded.untouched.slice(0, CHANGES));
    if (c.fromAnswer.length > 0) {
      rows.push([
        `(c) write answered → node's data-state, p50 / p99 (${c.fromAnswer.length} changes)`,
        `${percentile(c.fromAnswer, 50).toFixed(0)} / ${percentile(c.fromAnswer, 99).toFixed(0)} ms`,
        "≤ 500 ms",
      ]);
      rows.push([
        "(c) write sent → node's data-state, p50 / p99",
        `${percentile(c.fromSend, 50).toFixed(0)} / ${percentile(c.fromSend, 99).toFixed(0)} ms`,
        "",
      ]);
    }
    rows.push([
      `(d) dist/ui/assets/*.js gzip -9 (${size.files} files, ${(size.raw / 1024).toFixed(0)} KB raw)`,
      `${(size.gzip / 1024).toFixed(1)} KB`,
      "≤ 400 KB",
    ]);
  } finally {
    await browser.close();
    await stopAll();
    removeTempDirs();
  }
  log(`load average after: ${load()}`);
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`${"figure".padEnd(width)}  value          budget\n`);
  for (const [name, value, budget] of rows)
    process.stdout.write(`${name.padEnd(width)}  ${value.padEnd(13)}  ${budget}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
