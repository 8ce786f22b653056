// Runs every example of examples/ through the `weft` command (in process,
// test/support/cli.ts): each run must exit 0 with the expected task states, and
// `weft graph` must draw each one.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../support/cli.ts";
import { type JsonRun, parseJsonRun, statesOf, taskOf } from "../support/cli-result.ts";
import { repoRoot } from "../support/weft-process.ts";

let tmp = "";
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "weft-examples-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Runs an example with --json and checks that it exited 0. */
async function runExample(file: string, ...args: string[]): Promise<JsonRun> {
  const result = await runCli(["run", `examples/${file}`, "--json", ...args]);
  assert.equal(result.code, 0, `weft run examples/${file} failed:\n${result.stderr}`);
  const run = parseJsonRun(result);
  assert.equal(run.state.type, "Success", run.state.message);
  return run;
}

/** Splits a Markdown table row into its cells. */
function cells(row: string): string[] {
  return row
    .split("|")
    .slice(1, -1)
    .map((c) => c.trim());
}

/** The body rows (as cells) of the first table under a `## heading` of a Markdown report. */
function tableUnder(report: string, heading: string): string[][] {
  const lines = report.split("\n");
  const at = lines.indexOf(`## ${heading}`);
  assert.notEqual(at, -1, `no section ${heading}`);
  const rows: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.startsWith("|")) rows.push(line);
    else if (rows.length > 0 || line.startsWith("#")) break;
  }
  // Skip the header and the alignment row.
  return rows.slice(2).map(cells);
}

const ALL_SUCCESS = [
  "input",
  "output",
  "read-csv-1",
  "parse-orders-1",
  "revenue-by-region-1",
  "revenue-by-product-1",
  "revenue-by-month-1",
  "write-report-1",
];

describe("examples/etl.ts", { concurrency: true }, () => {
  it("turns the shipped orders CSV into a report, resolving paths against the current directory", async () => {
    // Run from another directory: the default output lands under it.
    const cwd = join(tmp, "cwd");
    await mkdir(cwd);
    const input = join(repoRoot, "examples", "data", "orders.csv");
    const result = await runCli(
      ["run", join(repoRoot, "examples", "etl.ts"), "--json", "--param", `input=${input}`],
      { cwd },
    );
    assert.equal(result.code, 0, result.stderr);
    const run = parseJsonRun(result);
    assert.equal(run.flow, "etl");
    assert.equal(run.state.type, "Success");
    assert.deepEqual(
      statesOf(run),
      Object.fromEntries(ALL_SUCCESS.map((slug) => [slug, "Success"])),
    );
    assert.deepEqual(run.parameters, { input, output: "examples/out/etl-report.md" });
    // The task logs go to stderr.
    assert.match(result.stderr, /^warn parse-orders-1: line 24 rejected: expected 8 fields/m);

    const report = await readFile(join(cwd, "examples", "out", "etl-report.md"), "utf8");
    assert.match(report, /^# Orders report\n/);
    assert.ok(
      report.includes(`Source: \`${input}\`: 200 rows read, 194 valid, 6 rejected.`),
      report,
    );
    assert.deepEqual(tableUnder(report, "Summary"), [
      ["completed", "168", "$148,584.20"],
      ["refunded", "15", "$7,174.89"],
      ["cancelled", "11", "$16,990.90"],
    ]);
    assert.ok(report.includes("**Total revenue: $148,584.20**"));
    assert.deepEqual(
      tableUnder(report, "Revenue by region").map((r) => r[0]),
      ["North America", "APAC", "EMEA", "LATAM"],
    );
    assert.equal(tableUnder(report, "Revenue by product").length, 6);
    assert.deepEqual(
      tableUnder(report, "Revenue by month").map((r) => r[0]),
      ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"],
    );
    // Each breakdown adds up to the total.
    for (const section of ["Revenue by region", "Revenue by product", "Revenue by month"]) {
      const cents = tableUnder(report, section).reduce(
        (sum, row) => sum + Math.round(Number(row[3]!.replace(/[$,]/g, "")) * 100),
        0,
      );
      assert.equal(cents, 14_858_420, section);
    }
    assert.deepEqual(tableUnder(report, "Rejected rows"), [
      ["24", "expected 8 fields, found 6"],
      ["59", 'date "2024-02-30" is not a real YYYY-MM-DD date'],
      ["98", 'quantity "two" is not a positive whole number'],
      ["132", 'unit_price "-289.50" is not a positive amount'],
      ["165", 'status "shipped" is not one of completed, refunded, cancelled'],
      ["189", "duplicate order_id ORD-10012"],
    ]);
  });

  it("computes exact figures from a small input, writing to --param output", async () => {
    const input = join(tmp, "small.csv");
    const output = join(tmp, "nested", "dir", "small.md");
    await writeFile(
      input,
      [
        "order_id,date,customer,region,product,quantity,unit_price,status",
        "ORD-1,2024-03-01,Acme Corp,EMEA,Desk Lamp,2,39.95,completed",
        'ORD-2,2024-03-15,"Smith, Clark & Co",EMEA,Standing Desk,1,499.00,completed',
        "ORD-3,2024-04-02,Globex,APAC,Desk Lamp,10,39.95,completed",
        "ORD-4,2024-04-03,Globex,APAC,Desk Lamp,1,39.95,refunded",
        "ORD-5,2024-04-04,Initech,APAC,Standing Desk,3,499.00,cancelled",
        "ORD-6,2024-04-31,Initech,APAC,Standing Desk,3,499.00,completed",
        "",
      ].join("\n"),
    );
    await runExample("etl.ts", "--param", `input=${input}`, "--param", `output=${output}`);
    const report = await readFile(output, "utf8");
    assert.ok(report.includes("6 rows read, 5 valid, 1 rejected."), report);
    assert.deepEqual(tableUnder(report, "Summary"), [
      ["completed", "3", "$978.40"],
      ["refunded", "1", "$39.95"],
      ["cancelled", "1", "$1,497.00"],
    ]);
    assert.deepEqual(tableUnder(report, "Revenue by region"), [
      ["EMEA", "2", "3", "$578.90"],
      ["APAC", "1", "10", "$399.50"],
    ]);
    assert.deepEqual(tableUnder(report, "Revenue by product"), [
      ["Standing Desk", "1", "1", "$499.00"],
      ["Desk Lamp", "2", "12", "$479.40"],
    ]);
    assert.deepEqual(tableUnder(report, "Revenue by month"), [
      ["2024-03", "2", "3", "$578.90"],
      ["2024-04", "1", "10", "$399.50"],
    ]);
    assert.deepEqual(tableUnder(report, "Rejected rows"), [
      ["7", 'date "2024-04-31" is not a real YYYY-MM-DD date'],
    ]);
  });

  it("fails (exit 1) when the input file does not exist, naming it", async () => {
    const missing = join(tmp, "no-such-orders.csv");
    const result = await runCli([
      "run",
      "examples/etl.ts",
      "--json",
      "--param",
      `input=${missing}`,
      "--param",
      `output=${join(tmp, "never.md")}`,
    ]);
    assert.equal(result.code, 1, result.stderr);
    const run = parseJsonRun(result);
    const read = taskOf(run, "read-csv-1");
    assert.equal(read.type, "Failed");
    assert.ok(read.message?.includes(missing), read.message);
    assert.equal(taskOf(run, "write-report-1").type, "TriggerFailed");
  });
});

describe("examples/map.ts", { concurrency: true }, () => {
  it("fans out, maps over the mapped result and reduces, alike in-process and on threads", async () => {
    const args = ["run", "examples/map.ts", "--json", "--param", "count=25"];
    const [local, threads] = await Promise.all([
      runCli(args),
      runCli([...args, "--executor", "worker-threads", "--max-workers", "1"]),
    ]);
    const summary = (stderr: string) => /summarize-1: (.*)/.exec(stderr)?.[1];
    for (const result of [local, threads]) {
      assert.equal(result.code, 0, result.stderr);
      const run = parseJsonRun(result);
      assert.equal(run.flow, "sensors");
      assert.deepEqual(statesOf(run), {
        count: "Success",
        day: "Success",
        "list-sensors-1": "Success",
        "load-calibration-1": "Success",
        "read-sensor-1": "Mapped",
        "calibrate-1": "Mapped",
        "summarize-1": "Success",
      });
      assert.equal(taskOf(run, "read-sensor-1").children, 25);
      assert.equal(taskOf(run, "calibrate-1").children, 25);
    }
    assert.match(
      summary(local.stderr) ?? "",
      /^25 sensors, 600 readings, mean [\d.]+ °C, hottest sensor-\d{3} at [\d.]+ °C$/,
    );
    assert.equal(summary(threads.stderr), summary(local.stderr));
  });

  it("maps over zero items", async () => {
    const run = await runExample("map.ts", "--param", "count=0");
    assert.equal(taskOf(run, "read-sensor-1").type, "Mapped");
    assert.equal(taskOf(run, "read-sensor-1").children, 0);
    assert.equal(taskOf(run, "summarize-1").type, "Success");
  });
});

describe("examples/retries-and-triggers.ts", { concurrency: true }, () => {
  const file = "retries-and-triggers.ts";

  it("retries, fails one task on purpose, alerts, cleans up and still succeeds", async () => {
    const run = await runExample(file);
    assert.equal(run.flow, "retries-and-triggers");
    assert.deepEqual(statesOf(run), {
      failures: "Success",
      channel: "Success",
      "make-workspace-1": "Success",
      "fetch-prices-1": "Success",
      "build-report-1": "Success",
      "publish-legacy-1": "Failed",
      "page-on-call-1": "Success",
      "when-1": "Success",
      "send-email-1": "Success",
      "when-2": "Skipped",
      "post-to-slack-1": "Skipped",
      "merge-1": "Success",
      "record-delivery-1": "Success",
      "remove-workspace-1": "Success",
      "write-audit-log-1": "Success",
    });
    // Two failed attempts, then success on the third.
    assert.equal(taskOf(run, "fetch-prices-1").attempts, 3);
    // Fail ends a task at once: its retries: 3 are not used.
    const legacy = taskOf(run, "publish-legacy-1");
    assert.equal(legacy.attempts, 1);
    assert.equal(legacy.message, "the legacy FTP endpoint was retired");
    // The reference tasks decide the state, but the failure is named (issue 13, item 12).
    assert.equal(
      run.state.message,
      "all 3 reference tasks succeeded, but 1 other task failed: publish-legacy-1",
    );
  });

  it("takes the other branch with --param channel=slack, on worker threads too", async () => {
    const run = await runExample(
      file,
      "--param",
      "channel=slack",
      "--executor",
      "worker-threads",
      "--max-workers",
      "1",
    );
    const states = statesOf(run);
    assert.equal(states["send-email-1"], "Skipped");
    assert.equal(states["post-to-slack-1"], "Success");
    assert.equal(states["merge-1"], "Success");
    assert.equal(taskOf(run, "merge-1").message, "merged from post-to-slack-1");
    assert.equal(taskOf(run, "fetch-prices-1").attempts, 3);
  });

  it("fails (exit 1) when the retries run out, and still cleans up", async () => {
    const result = await runCli(["run", `examples/${file}`, "--json", "--param", "failures=3"]);
    assert.equal(result.code, 1, result.stderr);
    const run = parseJsonRun(result);
    assert.equal(run.state.type, "Failed");
    const fetch = taskOf(run, "fetch-prices-1");
    assert.equal(fetch.type, "Failed");
    assert.equal(fetch.attempts, 3);
    assert.equal(fetch.message, "price service answered 503 (attempt 3)");
    const states = statesOf(run);
    assert.equal(states["build-report-1"], "TriggerFailed");
    assert.equal(states["record-delivery-1"], "TriggerFailed");
    assert.equal(states["remove-workspace-1"], "Success");
    assert.equal(states["write-audit-log-1"], "Success");
  });
});

describe("weft graph on every example", { concurrency: true }, () => {
  const cases = [
    {
      file: "etl.ts",
      mermaid: ["n_read_csv_1 --> n_parse_orders_1", "n_revenue_by_month_1 --> n_write_report_1"],
      dot: [],
    },
    {
      file: "map.ts",
      mermaid: [
        'n_read_sensor_1(["read-sensor-1 ⋯map"])',
        "n_list_sensors_1 ==> n_read_sensor_1",
        "n_read_sensor_1 ==> n_calibrate_1",
        "n_load_calibration_1 --> n_calibrate_1",
      ],
      dot: [
        '"read-sensor-1" [shape=box3d];',
        '"read-sensor-1" -> "calibrate-1" [style=bold];',
        '"calibrate-1" -> "summarize-1";',
      ],
    },
    {
      file: "retries-and-triggers.ts",
      mermaid: [
        "n_publish_legacy_1 -.-> n_page_on_call_1",
        "n_when_1 -.-> n_send_email_1",
        "n_send_email_1 --> n_merge_1",
      ],
      dot: ['"record-delivery-1" -> "remove-workspace-1" [style=dashed];'],
    },
  ];
  for (const { file, mermaid, dot } of cases) {
    it(`draws examples/${file}`, async () => {
      const [m, d] = await Promise.all([
        runCli(["graph", `examples/${file}`]),
        dot.length === 0 ? undefined : runCli(["graph", `examples/${file}`, "--format", "dot"]),
      ]);
      assert.equal(m.code, 0, m.stderr);
      assert.match(m.stdout, /^flowchart TD\n/);
      for (const line of mermaid)
        assert.ok(m.stdout.includes(`  ${line}\n`), `${line}\n${m.stdout}`);
      if (d === undefined) return;
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stdout, /^digraph "[\w-]+" \{\n/);
      for (const line of dot) assert.ok(d.stdout.includes(`  ${line}\n`), `${line}\n${d.stdout}`);
    });
  }
});
