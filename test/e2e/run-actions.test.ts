// The run page's actions end to end (issue 17): re-run from failure and approve a
// waiting task through POST /api/flow-runs/:id/resume, on one real `weft up`
// (SQLite) whose agent runs the flows in this process (local environment) and in a
// `weft execute` child (subprocess environment: resume and approvals travel as
// WEFT_RESUME / WEFT_APPROVE). Executions are counted in files the tasks append to
// (test/fixtures/e2e/actions-flows.ts); refusals are checked one line each.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiError } from "../../src/client/api-client.ts";
import type { FlowRunDetail } from "../../src/serialization/api-schemas.ts";
import {
  e2eFixtures,
  register,
  removeTempDirs,
  type ServerProcess,
  startUp,
  stopAll,
  summarize,
  taskStates,
  tempDir,
  waitForRun,
} from "./e2e-process.ts";

const flows = `${e2eFixtures}/actions-flows.ts`;

let home: string;
let up: ServerProcess;

/** The run ids `<dir>/<task>.runs` holds, one per execution of the task's body. */
function executions(dir: string, taskName: string): string[] {
  const path = join(dir, `${taskName}.runs`);
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

/** The slug of the task named `name` in a run (`prepare-1`). */
function slugOf(run: FlowRunDetail, name: string): string {
  const slug = run.taskRuns.find((t) => t.slug.startsWith(`${name}-`))?.slug;
  assert.ok(slug, `run ${run.id} has a task run of ${name}: ${summarize(run)}`);
  return slug;
}

/** The flows of the fixture file, registered once (before the tests, which run concurrently). */
const FLOWS = {
  "e2e-actions-failing": undefined,
  "e2e-actions-failing-subprocess": "subprocess",
  "e2e-actions-unpersisted": undefined,
  "e2e-actions-approve": undefined,
  "e2e-actions-approve-subprocess": "subprocess",
} as const;
const flowIds = new Map<string, string>();

/** The id of a flow of {@link FLOWS}. */
function registered(name: keyof typeof FLOWS): string {
  const id = flowIds.get(name);
  assert.ok(id, `flow ${name} was registered`);
  return id;
}

/** The code (and details) a refused call answers with. */
async function refusal(call: Promise<unknown>): Promise<ApiError> {
  const error = await call.then(
    () => assert.fail("the call was not refused"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApiError, String(error));
  return error;
}

before(async () => {
  home = tempDir("actions");
  up = await startUp({
    home,
    concurrency: 4,
    heartbeatIntervalMs: 250,
    loops: { loopIntervalMs: 250, heartbeatTimeoutMs: 10_000, submittedTimeoutMs: 30_000 },
  });
  for (const [name, environment] of Object.entries(FLOWS)) {
    const answer = await register(
      flows,
      ["--flow", name, ...(environment === undefined ? [] : ["--environment", environment])],
      { api: up.url, home },
    );
    flowIds.set(name, answer.flows[0]!.id);
  }
});

after(async () => {
  await stopAll();
  removeTempDirs();
});

describe("run actions through the API (weft up, SQLite)", { concurrency: true }, () => {
  for (const [name, environment] of [
    ["e2e-actions-failing", undefined],
    ["e2e-actions-failing-subprocess", "subprocess"],
  ] as const) {
    test(`re-run from failure (${environment ?? "local"} environment): the task that succeeded is not run again, the failed one is`, async () => {
      const dir = tempDir("resume");
      const flowId = registered(name);
      const { run } = await up.api.createFlowRun({ flowId, parameters: { dir } });
      const failed = await waitForRun(up.api, run.id, { processes: [up] });
      assert.equal(failed.state.type, "Failed", summarize(failed));
      assert.deepEqual(executions(dir, "prepare"), [run.id]);
      assert.deepEqual(executions(dir, "breaks"), [run.id]);

      // Nothing fixed: the resumed run fails again, but prepare's persisted result is reused.
      const resumed = await up.api.resumeFlowRun(run.id);
      assert.notEqual(resumed.id, run.id);
      assert.equal(resumed.resumedFrom, run.id);
      assert.equal(resumed.flowId, flowId);
      assert.deepEqual(resumed.parameters, { dir });
      assert.equal(resumed.approved, undefined);
      assert.equal(resumed.state.type, "Scheduled");
      const again = await waitForRun(up.api, resumed.id, { processes: [up] });
      assert.equal(again.state.type, "Failed", summarize(again));
      assert.deepEqual(executions(dir, "prepare"), [run.id], "prepare did not run again");
      assert.deepEqual(executions(dir, "breaks"), [run.id, resumed.id], "breaks ran again");
      const prepare = again.taskRuns.find((t) => t.slug === slugOf(again, "prepare"))!;
      assert.equal(prepare.state.type, "Success");
      assert.match(prepare.state.message ?? "", new RegExp(`resumed from run ${run.id}`));
      // The failed original stays as it was.
      assert.equal((await up.api.getFlowRun(run.id)).state.type, "Failed");
    });
  }

  for (const [name, environment] of [
    ["e2e-actions-approve", undefined],
    ["e2e-actions-approve-subprocess", "subprocess"],
  ] as const) {
    test(`approve waiting tasks (${environment ?? "local"} environment): a manual_only task, then a task that raised Pause`, async () => {
      const dir = tempDir("approve");
      const flowId = registered(name);
      const { run } = await up.api.createFlowRun({ flowId, parameters: { dir } });
      // An orchestrated run whose task waits for approval ends Paused.
      const paused = await waitForRun(up.api, run.id, {
        until: (r) => r.state.type === "Paused",
        what: "Paused",
        processes: [up],
      });
      const approval = slugOf(paused, "approval");
      assert.equal(taskStates(paused)[approval], "Paused", summarize(paused));
      assert.deepEqual(executions(dir, "approval"), []);

      const second = await up.api.resumeFlowRun(run.id, { approve: [approval] });
      assert.deepEqual(second.approved, [approval]);
      assert.equal(second.resumedFrom, run.id);
      // The Paused original is over: it names the run that carries on.
      const original = await up.api.getFlowRun(run.id);
      assert.equal(original.state.type, "Cancelled");
      assert.equal(original.state.message, `resumed as flow run ${second.id}`);
      // approval runs; review raises Pause (not approved yet): Paused again.
      const waiting = await waitForRun(up.api, second.id, {
        until: (r) => r.state.type === "Paused",
        what: "Paused",
        processes: [up],
      });
      const review = slugOf(waiting, "review");
      assert.equal(taskStates(waiting)[approval], "Success", summarize(waiting));
      assert.equal(taskStates(waiting)[review], "Paused", summarize(waiting));
      assert.deepEqual(executions(dir, "approval"), [second.id]);

      // Approvals add up along the resumes: approval is not asked about again.
      const third = await up.api.resumeFlowRun(second.id, { approve: [review] });
      assert.deepEqual(third.approved, [approval, review]);
      const done = await waitForRun(up.api, third.id, { processes: [up] });
      assert.equal(done.state.type, "Success", summarize(done));
      assert.deepEqual(executions(dir, "prepare"), [run.id], "prepare ran once in three runs");
      assert.deepEqual(executions(dir, "approval"), [second.id], "approval's result was reused");
      assert.deepEqual(executions(dir, "review"), [second.id, third.id]);
    });
  }

  test("refusals: each names what is wrong, with a code and the field a form shows it by", async () => {
    const dir = tempDir("refusals");
    const flowId = registered("e2e-actions-failing");
    const unpersisted = registered("e2e-actions-unpersisted");
    // A run that is not finished: due in a year, it stays Scheduled.
    const { run: pending } = await up.api.createFlowRun({
      flowId,
      parameters: { dir },
      scheduledStart: new Date(Date.now() + 365 * 86_400_000).toISOString(),
    });
    const notFinished = await refusal(up.api.resumeFlowRun(pending.id));
    assert.equal(notFinished.code, "INVALID_TRANSITION");
    assert.equal(notFinished.status, 409);
    assert.match(notFinished.message, /cannot be resumed: it is Scheduled/);

    const { run } = await up.api.createFlowRun({ flowId, parameters: { dir } });
    await waitForRun(up.api, run.id, { processes: [up] });
    const unknown = await refusal(up.api.resumeFlowRun(run.id, { approve: ["no-such-task"] }));
    assert.equal(unknown.code, "UNKNOWN_TASK");
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.details, { task: "no-such-task" });

    const gone = await refusal(up.api.resumeFlowRun("00000000-0000-4000-8000-000000000000"));
    assert.equal(gone.code, "FLOW_RUN_NOT_FOUND");

    // No results to resume from: refused without approvals, allowed with one.
    const { run: plain } = await up.api.createFlowRun({
      flowId: unpersisted,
      parameters: { dir },
    });
    const plainDone = await waitForRun(up.api, plain.id, { processes: [up] });
    const nothing = await refusal(up.api.resumeFlowRun(plain.id));
    assert.equal(nothing.code, "RESULT_NOT_PERSISTED");
    assert.equal(nothing.status, 409);
    assert.match(nothing.message, /persists no results .*every task would run again/);
    const withApproval = await up.api.resumeFlowRun(plain.id, {
      approve: [slugOf(plainDone, "breaks")],
    });
    assert.equal(withApproval.resumedFrom, plain.id);

    // A malformed body names its field as a path.
    const response = await fetch(`${up.url}/api/flow-runs/${run.id}/resume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ approve: "breaks-1" }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string; details?: unknown } };
    assert.equal(body.error.code, "INVALID_REQUEST");
    assert.deepEqual(body.error.details, { path: ["approve"] });

    // Re-run with other parameters: a wrong type names the parameter.
    const badType = await refusal(up.api.createFlowRun({ flowId, parameters: { dir: 5 } }));
    assert.equal(badType.code, "INVALID_PARAMETER");
    assert.deepEqual(badType.details, { parameter: "dir" });
    const stray = await refusal(up.api.createFlowRun({ flowId, parameters: { nope: 1 } }));
    assert.equal(stray.code, "UNKNOWN_PARAMETER");
    assert.deepEqual(stray.details, { parameter: "nope" });
  });

  test("a resume answers 201 Created", async () => {
    const dir = tempDir("created");
    const flowId = registered("e2e-actions-failing");
    const { run } = await up.api.createFlowRun({ flowId, parameters: { dir } });
    await waitForRun(up.api, run.id, { processes: [up] });
    const response = await fetch(`${up.url}/api/flow-runs/${run.id}/resume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(response.status, 201, await response.text());
  });
});
