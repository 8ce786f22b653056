// Retries, triggers and branches: a nightly price export.
//
// - fetch-prices is flaky: its first `failures` attempts fail, and retries: 2
//   lets it succeed on attempt 3 (deterministic: it looks at context().attempt).
// - publish-legacy always fails with Fail, which ends the task at once: its
//   retries are not used, because Fail means "retrying will not help".
// - page-on-call runs only when an upstream task failed (trigger any_failed):
//   on a normal night, that is publish-legacy.
// - remove-workspace cleans up whatever happened (trigger all_finished), and
//   write-audit-log runs last in every case (trigger always_run).
// - when()/merge() send the report by e-mail or to Slack, per the `channel`
//   parameter; the branch not taken ends Skipped.
//
// The flow ends Success although publish-legacy fails: see referenceTasks below.
//
//   node bin/weft.js run examples/retries-and-triggers.ts
//   node bin/weft.js run examples/retries-and-triggers.ts --param channel=slack
//   node bin/weft.js run examples/retries-and-triggers.ts --param failures=3   # exit 1
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { context, Fail, flow, merge, parameter, task, when } from "weftflow";

/** Prices of the night, by SKU, in cents. */
type Prices = Record<string, number>;

const makeWorkspace = task("make-workspace", () => mkdtemp(join(tmpdir(), "weft-prices-")));

const fetchPrices = task(
  "fetch-prices",
  (failures: number): Prices => {
    const { attempt, logger } = context();
    if (attempt <= failures) {
      // An ordinary error: the task is retried after retryDelay.
      throw new Error(`price service answered 503 (attempt ${attempt})`);
    }
    logger.info(`fetched prices on attempt ${attempt}`);
    return { "DESK-01": 49_900, "CHAIR-02": 28_950, "LAMP-07": 3_995 };
  },
  { retries: 2, retryDelay: 50 },
);

const buildReport = task("build-report", async (prices: Prices, workspace: string) => {
  const lines = Object.entries(prices).map(([sku, cents]) => `${sku}\t${(cents / 100).toFixed(2)}`);
  const path = join(workspace, "prices.tsv");
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
});

const publishLegacy = task(
  "publish-legacy",
  (_report: string) => {
    // Fail ends the task now, whatever `retries` says.
    throw new Fail("the legacy FTP endpoint was retired");
  },
  { retries: 3 },
);

const pageOnCall = task(
  "page-on-call",
  (report: string) => {
    context().logger.warn(`paging on-call: ${report} was not published everywhere`);
    return "paged";
  },
  { trigger: "any_failed" },
);

const sendEmail = task("send-email", (report: string) => `e-mailed ${report}`);
const postToSlack = task("post-to-slack", (report: string) => `posted ${report} to #prices`);
const recordDelivery = task("record-delivery", (how: string) => {
  context().logger.info(how);
  return how;
});

const removeWorkspace = task(
  "remove-workspace",
  async (workspace: string | undefined) => {
    // Upstream tasks may have failed: an argument whose task failed is undefined.
    if (workspace === undefined) return "nothing to remove";
    await rm(workspace, { recursive: true, force: true });
    return `removed ${workspace}`;
  },
  // Cleanup must run even when a branch was skipped, so skips do not propagate here.
  { trigger: "all_finished", skipOnUpstreamSkip: false },
);

const writeAuditLog = task(
  "write-audit-log",
  (cleanup: string | undefined) => {
    const { flowRunId, parameters, logger } = context();
    logger.info(`run ${flowRunId} finished; ${cleanup ?? "cleanup did not run"}`, { parameters });
    return flowRunId;
  },
  { trigger: "always_run", skipOnUpstreamSkip: false },
);

/**
 * Nightly price export with a flaky source, a retired publisher, an alert,
 * a delivery branch and cleanup.
 */
export const nightlyPrices = flow(
  "retries-and-triggers",
  () => {
    const failures = parameter("failures", 2, {
      type: "integer",
      description: "how many attempts of fetch-prices fail before one succeeds",
    });
    const channel = parameter("channel", "email", {
      description: "where to deliver the report: email or slack",
      validate: (v) => v === "email" || v === "slack" || "expected email or slack",
    });

    const workspace = makeWorkspace();
    const prices = fetchPrices(failures);
    const report = buildReport(prices, workspace);

    const legacy = publishLegacy(report);
    // any_failed: pages when building the report or publishing it failed.
    const paged = pageOnCall(report).after(legacy);

    const emailed = when(channel, "email", () => sendEmail(report));
    const posted = when(channel, "slack", () => postToSlack(report));
    const delivered = recordDelivery(merge(emailed, posted));

    const cleanup = removeWorkspace(workspace).after(report, legacy, delivered);
    const audit = writeAuditLog(cleanup).after(paged);

    return { prices, delivered, paged, cleanup, audit };
  },
  {
    description: "Retries, Fail, triggers, when/merge and reference tasks",
    // By default the terminal tasks decide the flow's state. Here that is
    // write-audit-log alone, which runs whatever happens (always_run): every
    // run would be a Success, even one that fetched no prices. Nor should
    // publish-legacy count: its failure is expected and handled (someone is
    // paged). So the flow is judged by what matters: the prices were fetched,
    // the report delivered and the workspace removed.
    referenceTasks: (out) => [out.prices, out.delivered, out.cleanup],
  },
);
