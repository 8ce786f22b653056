// One run, one JSON shape, local or remote; tables with headers and durations;
// run ids by unique prefix (issue 13, item 17). The server runs in this
// process; the test plays the agent through the API.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import type { StateType } from "../../src/core/states.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { cloneRun } from "../server/db/clone-run.ts";
import { serializedFlow, st } from "../server/db/store-fixtures.ts";
import { runCli, startCli } from "../support/cli.ts";
import { assertCliError, cliFixtures, explain } from "../support/cli-result.ts";
import { expectCode } from "../support/expect-code.ts";

/** The fields every run document has, whoever ran the run. */
const RUN_FIELDS = [
  "id",
  "flowRunId",
  "flow",
  "state",
  "message",
  "parameters",
  "startedAt",
  "endedAt",
  "durationMs",
  "tasks",
];

const dir = mkdtempSync(join(tmpdir(), "weft-run-json-"));
const db = join(dir, "weft.db");
let server: RunningServer;
let api: ApiClient;
let url: string;
const flow = serializedFlow({ labels: [`cli-${randomUUID()}`] });

before(async () => {
  server = await startServer({ db, port: 0 });
  url = server.url;
  api = createApiClient({ url });
  await api.registerFlow(flow);
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Plays an agent: Running, the parameter and the task (1.5 s long) end, then the run ends `final`. */
async function finish(id: string, final: StateType = "Success"): Promise<void> {
  const created = await api.getFlowRun(id);
  const running = await api.setFlowRunState(id, st("Running"), created.version);
  const end = new Date();
  const start = new Date(end.getTime() - 1500);
  await api.setTaskRunStates([
    { flowRunId: id, slug: "x", state: st("Success", start), version: 0 },
    {
      flowRunId: id,
      slug: "inc-1",
      state: st("Running", start, { startedAt: start.toISOString(), attempts: 1 }),
      version: 0,
    },
  ]);
  await api.setTaskRunStates([
    {
      flowRunId: id,
      slug: "inc-1",
      state: st(final, end, { message: "done", startedAt: start.toISOString(), attempts: 1 }),
      version: 1,
    },
  ]);
  await api.setFlowRunState(id, st(final, end, { message: "the end" }), running.version);
}

async function createRun(): Promise<string> {
  return (await api.createFlowRun({ flowName: flow.name, parameters: { x: 3 } })).run.id;
}

function json(result: { code: number | null; stdout: string; stderr: string }) {
  assert.equal(result.code, 0, explain({ ...result, signal: null }));
  return JSON.parse(result.stdout) as Record<string, unknown> & {
    tasks: { slug: string; attempts?: number; durationMs?: number }[];
  };
}

describe("one JSON shape for a run", { concurrency: true }, () => {
  test("weft run --json, run --remote --wait --json and runs inspect --json share their fields", async () => {
    const local = json(await runCli(["run", `${cliFixtures}/params.ts`, "--json"]));
    for (const field of RUN_FIELDS) assert.ok(field in local, `local has ${field}`);
    assert.equal(local.id, local.flowRunId);
    assert.equal(local.outputs, "hihi", "the flow's outputs, resolved");
    assert.equal(local.message, "all 1 reference tasks succeeded");
    assert.equal(typeof local.durationMs, "number");

    const child = startCli(["run", "--remote", flow.name, "--wait", "--json", "--api", url]);
    await child.waitForStderr("created flow run ");
    const id = /created flow run (\S+) /.exec(child.stderr())![1]!;
    await finish(id);
    const remote = json(await child.done);
    const inspected = json(await runCli(["runs", "inspect", id, "--api", url, "--json"]));
    for (const doc of [remote, inspected]) {
      for (const field of RUN_FIELDS) assert.ok(field in doc, `remote has ${field}`);
      assert.equal(doc.id, id);
      assert.equal(doc.flowRunId, id);
      assert.equal(doc.flow, flow.name);
      assert.equal((doc.state as { type: string }).type, "Success");
      assert.equal(doc.message, "the end");
      assert.deepEqual(doc.parameters, { x: 1 });
      assert.equal(typeof doc.startedAt, "string");
      assert.equal(typeof doc.endedAt, "string");
      assert.equal(typeof doc.durationMs, "number");
      const tasks = Object.fromEntries(doc.tasks.map((t) => [t.slug, t]));
      assert.equal(tasks.x?.attempts, undefined, "a parameter makes no attempt");
      assert.equal(tasks["inc-1"]?.attempts, 1);
      assert.equal(tasks["inc-1"]?.durationMs, 1500);
      // The API's own fields stay, for scripts written against them.
      assert.equal(doc.flowName, flow.name);
      assert.ok(Array.isArray(doc.taskRuns) && Array.isArray(doc.history));
    }
  });
});

describe("tables", { concurrency: true }, () => {
  test("runs ls and flows ls print a header row, also as tab-separated lines", async () => {
    const id = await createRun();
    await finish(id);
    const runs = await runCli(["runs", "ls", "--flow", flow.name, "--api", url]);
    assert.equal(runs.code, 0, runs.stderr);
    const [header, ...rows] = runs.stdout.trimEnd().split("\n");
    assert.equal(header, "ID\tFLOW\tNAME\tSTATE\tSCHEDULED\tENDED\tDURATION");
    const row = rows.find((r) => r.startsWith(id))?.split("\t");
    assert.ok(row, runs.stdout);
    assert.equal(row[3], "Success");
    assert.match(row[6]!, /^\d+(\.\d)? (ms|s)$/, "a finished run's duration");

    const table = await runCli(["runs", "ls", "--flow", flow.name, "--api", url], {
      stdoutTTY: true,
    });
    assert.match(table.stdout, /^ID +FLOW +NAME +STATE +SCHEDULED +ENDED +DURATION$/m);

    const flows = await runCli(["flows", "ls", "--name", flow.name, "--api", url]);
    assert.equal(flows.stdout.split("\n")[0], "FLOW\tVERSION\tID\tLABELS\tSCHEDULE\tREGISTERED");
    assert.match(flows.stdout, new RegExp(`^${flow.name}\\tv1\\t`, "m"));
  });

  test("a remote run's task table: a duration column, and no attempts shown for a parameter", async () => {
    const child = startCli(["run", "--remote", flow.name, "--wait", "--api", url]);
    await child.waitForStderr("created flow run ");
    await finish(/created flow run (\S+) /.exec(child.stderr())![1]!);
    const result = await child.done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^TASK +STATE +DURATION +ATTEMPTS +MESSAGE$/m);
    assert.match(result.stdout, /^x +Success$/m, "no 0 attempts for the parameter");
    assert.match(result.stdout, /^inc-1 +Success +1\.5 s +done$/m);
  });
});

describe("run ids by unique prefix", { concurrency: true }, () => {
  test("inspect, logs and cancel take the 8 digits a run's name shows", async () => {
    const id = await createRun();
    const short = id.slice(0, 8);
    const inspect = await runCli(["runs", "inspect", short, "--api", url]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, new RegExp(`^run +${id} \\(${flow.name}-${short}\\)$`, "m"));
    const logs = await runCli(["runs", "logs", short, "--api", url]);
    assert.equal(logs.code, 0, logs.stderr);
    const cancel = await runCli(["runs", "cancel", short.toUpperCase(), "--api", url]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(cancel.stdout, `run ${id}: Cancelled\n`);
  });

  test("an ambiguous prefix lists the candidates; an unknown one is not found; a bad one is refused", async () => {
    const id = await createRun();
    // Shares the 8 digits a name shows, and differs right after them.
    const twin = `${id.slice(0, 8)}-${id[9] === "0" ? "1111" : "0000"}-4000-8000-000000000000`;
    await cloneRun(db, true, id, twin);
    assertCliError(await runCli(["runs", "inspect", id.slice(0, 6), "--api", url]), {
      code: "AMBIGUOUS_RUN_ID",
      says: [`2 flow runs have an id starting with ${id.slice(0, 6)}`, id, twin],
      hint: "give more of the id",
    });
    const inspect = await runCli(["runs", "inspect", id.slice(0, 10), "--api", url, "--json"]);
    assert.equal(json(inspect).id, id, "more digits tell them apart");

    const free = ["0000", "ffff", "aaaa"].find((p) => !id.startsWith(p))!;
    const none = `${free}${id.slice(4, 8)}`;
    if ((await api.listFlowRuns({ idPrefix: none })).items.length === 0) {
      assertCliError(await runCli(["runs", "logs", none, "--api", url]), {
        code: "FLOW_RUN_NOT_FOUND",
        says: [`no flow run's id starts with ${none}`],
        hint: "weft runs ls",
      });
    }
    assertCliError(await runCli(["runs", "cancel", "abc", "--api", url]), {
      code: "INVALID_ARGUMENT",
      says: ['"abc" is not a run id', "4 or more hex digits"],
    });
    // The API bounds the prefix itself: 4 to 36 hex digits or dashes.
    await expectCode(() => api.listFlowRuns({ idPrefix: "abc" }), "INVALID_REQUEST", "3 digits");
    await expectCode(() => api.listFlowRuns({ idPrefix: "ab%d" }), "INVALID_REQUEST", "a wildcard");
  });
});
