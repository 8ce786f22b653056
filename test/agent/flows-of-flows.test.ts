// Flows of flows (startFlowRun) against a real server and agent, on SQLite and
// PostgreSQL: a parent run creates a child run through the API, linked both
// ways (the run JSON, `weft runs inspect`), waits for it, fails with it
// (raiseOnFailure), and never creates a second child when its task is retried
// or the same run runs again.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { expectTypeOf } from "expect-type";
import { apiVariables } from "../../src/agent/agent.ts";
import { createApiClient } from "../../src/client/api-client.ts";
import {
  type ChildFlowRun,
  createSubprocessEnvironment,
  flow,
  type Ref,
  startFlowRun,
} from "../../src/index.ts";
import type { FlowRunRecord } from "../../src/serialization/api-schemas.ts";
import {
  child,
  fireAndForget,
  mapped,
  parent,
  retried,
  tolerant,
} from "../fixtures/agent/flows-of-flows.ts";
import { POSTGRES_URL } from "../server/dialects.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";
import { startTestServer, type TestServer } from "./agent-server.ts";

async function childrenOf(server: TestServer, parentId: string): Promise<FlowRunRecord[]> {
  const page = await server.api.listFlowRuns({ flowName: "fof-child", limit: 500 });
  return page.items.filter((r) => r.parentRunId === parentId);
}

async function withServer(
  dialect: "sqlite" | "postgres",
  body: (server: TestServer) => Promise<void>,
): Promise<void> {
  const server = await startTestServer(dialect);
  try {
    for (const f of [child, parent, fireAndForget, retried, tolerant, mapped]) {
      await server.register(f);
    }
    server.agent({ runEnv: apiVariables(server.server.url, undefined) });
    await body(server);
  } finally {
    await server.close();
  }
}

for (const dialect of ["sqlite", "postgres"] as const) {
  const skip = dialect === "postgres" && POSTGRES_URL === undefined ? "no PostgreSQL" : false;
  describe(`flows of flows on ${dialect}`, { skip }, () => {
    test("a parent waits for its child; the link shows in the API and in runs inspect", async () => {
      await withServer(dialect, async (server) => {
        const url = server.server.url;
        const { run } = await server.api.createFlowRun({
          flowName: "fof-parent",
          parameters: { day: "2026-12-24" },
        });
        const done = await server.waitFor(run.id, undefined, 60_000);
        assert.equal(done.state.type, "Success", done.state.message);
        const kids = await childrenOf(server, run.id);
        assert.equal(kids.length, 1);
        const kid = kids[0]!;
        assert.equal(kid.state.type, "Success");
        assert.equal(kid.parentTaskRun, "run-fof-child-1");
        assert.deepEqual(kid.parameters, { day: "2026-12-24", fail: false, ms: 0 });
        assert.deepEqual(
          done.childRuns.map((c) => [c.id, c.flowName, c.state.type, c.parentTaskRun]),
          [[kid.id, "fof-child", "Success", "run-fof-child-1"]],
        );
        const reported = done.taskRuns.find((t) => t.slug === "report-1");
        assert.equal(reported?.state.type, "Success");

        const parentView = await runCli(["runs", "inspect", run.id, "--api", url]);
        assert.equal(parentView.code, 0, explain(parentView));
        assert.match(parentView.stdout, /child runs/);
        assert.match(
          parentView.stdout,
          new RegExp(`${kid.id}\\s+fof-child\\s+Success\\s+run-fof-child-1`),
        );
        const childView = await runCli(["runs", "inspect", kid.id, "--api", url]);
        assert.match(
          childView.stdout,
          new RegExp(`parent\\s+${run.id} \\(task run-fof-child-1\\)`),
        );
        const childJson = JSON.parse(
          (await runCli(["runs", "inspect", kid.id, "--api", url, "--json"])).stdout,
        );
        assert.equal(childJson.parentRunId, run.id);
        assert.equal(childJson.parentTaskRun, "run-fof-child-1");
      });
    });

    test("raiseOnFailure: a failed child fails the parent's task, naming the child and its message", async () => {
      await withServer(dialect, async (server) => {
        const { run } = await server.api.createFlowRun({
          flowName: "fof-parent",
          parameters: { day: "2026-12-25", fail: true },
        });
        const done = await server.waitFor(run.id, undefined, 60_000);
        assert.equal(done.state.type, "Failed");
        const [kid] = await childrenOf(server, run.id);
        assert.equal(kid?.state.type, "Failed");
        const starter = done.taskRuns.find((t) => t.slug === "run-fof-child-1")!;
        assert.equal(starter.state.type, "Failed");
        assert.match(
          starter.state.message ?? "",
          new RegExp(`flow run ${kid!.id} of "fof-child" ended Failed`),
        );
        assert.match(JSON.stringify(starter.state), /no data for 2026-12-25/);
        assert.match(JSON.stringify(starter.state), /CHILD_FLOW_RUN_FAILED/);
        // Not retried: the same child would be found again.
        assert.equal(starter.attempts, 1);
        assert.equal(done.taskRuns.find((t) => t.slug === "report-1")?.state.type, "TriggerFailed");

        // raiseOnFailure: false succeeds with the child's final state.
        const t = await server.api.createFlowRun({ flowName: "fof-tolerant" });
        const tolerated = await server.waitFor(t.run.id, undefined, 60_000);
        assert.equal(tolerated.state.type, "Success", tolerated.state.message);
        assert.equal((await childrenOf(server, t.run.id))[0]?.state.type, "Failed");
      });
    });

    test("startFlowRun.map: one child per item, each linked to its child task run", async () => {
      await withServer(dialect, async (server) => {
        const { run } = await server.api.createFlowRun({ flowName: "fof-mapped" });
        const done = await server.waitFor(run.id, undefined, 60_000);
        assert.equal(done.state.type, "Success", done.state.message);
        const kids = await childrenOf(server, run.id);
        assert.deepEqual(
          kids.map((k) => [k.parentTaskRun, k.parameters.day, k.state.type]).sort(),
          [
            ["run-fof-child-1[0]", "mon", "Success"],
            ["run-fof-child-1[1]", "tue", "Success"],
            ["run-fof-child-1[2]", "wed", "Success"],
          ],
        );
        assert.equal(done.childRuns.length, 3);
      });
    });

    test("a retried task finds the child its first attempt created: one child, created: false", async () => {
      await withServer(dialect, async (server) => {
        const { run } = await server.api.createFlowRun({ flowName: "fof-retried" });
        const done = await server.waitFor(run.id, undefined, 90_000);
        assert.equal(done.state.type, "Success", done.state.message);
        const starter = done.taskRuns.find((t) => t.slug === "run-fof-child-1")!;
        assert.ok(starter.attempts > 1, `retried (attempts ${starter.attempts})`);
        const kids = await childrenOf(server, run.id);
        assert.equal(kids.length, 1, "one child for every attempt");
        assert.equal(kids[0]!.state.type, "Success");
      });
    });
  });
}

test("a parent in a subprocess environment reaches the API through its process's variables", async () => {
  const server = await startTestServer("sqlite");
  try {
    await server.register(child);
    await server.register(parent, { environment: createSubprocessEnvironment() });
    server.agent({ runEnv: apiVariables(server.server.url, undefined) });
    const { run } = await server.api.createFlowRun({ flowName: "fof-parent" });
    const done = await server.waitFor(run.id, undefined, 90_000);
    assert.equal(done.state.type, "Success", done.state.message);
    assert.equal(done.childRuns.length, 1);
    assert.equal(done.childRuns[0]!.state.type, "Success");
  } finally {
    await server.close();
  }
});

describe("startFlowRun outside an agent", () => {
  test("the same run started again (a restart) finds its child; the API comes from RunOptions.env", async () => {
    const server = await startTestServer("sqlite");
    try {
      await server.register(child);
      const flowRunId = randomUUID();
      const env = apiVariables(server.server.url, undefined);
      const first = await fireAndForget.run({ flowRunId, env });
      assert.equal(first.state.type, "Success", first.state.message);
      const made = first.outputs as { id: string; created: boolean; state: string };
      assert.equal(made.created, true);
      assert.equal(made.state, "Scheduled");
      const again = await fireAndForget.run({ flowRunId, env });
      const found = again.outputs as { id: string; created: boolean };
      assert.deepEqual([found.id, found.created], [made.id, false]);
      const record = await server.api.getFlowRun(made.id);
      assert.equal(record.parentRunId, flowRunId);
      assert.deepEqual(record.parameters, { day: "later", fail: false, ms: 0 });
      // The api option wins over variables: a client given in code.
      const viaOption = flow("fof-option", () =>
        startFlowRun("fof-child", { api: createApiClient({ url: server.server.url }) }),
      );
      const r = await viaOption.run();
      assert.equal(r.state.type, "Success", r.state.message);
      // The API refuses half a link.
      await assert.rejects(
        server.api.createFlowRun({ flowName: "fof-child", parentTaskRun: "t-1" }),
        { code: "INVALID_REQUEST", message: /parentTaskRun needs parentRunId/ },
      );
    } finally {
      await server.close();
    }
  });

  test("no API anywhere: the task fails at once with API_NOT_CONFIGURED, saying how to give one", async () => {
    assert.equal(process.env.WEFT_API_URL, undefined, "the test process has no WEFT_API_URL");
    const run = await fireAndForget.run();
    const state = run.stateOf("run-fof-child-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "API_NOT_CONFIGURED");
    assert.match(state.message ?? "", /startFlowRun\("fof-child"\)/);
    assert.match(state.error?.hint ?? "", /WEFT_API_URL/);
    assert.equal(state.attempts ?? 1, 1);
  });

  test("types: a ref to the child run, or to one per item", () => {
    const f = flow("fof-types", () => {
      const one = startFlowRun("fof-child", { parameters: { day: "x" } });
      expectTypeOf(one).toEqualTypeOf<Ref<ChildFlowRun>>();
      const many = startFlowRun.map("fof-child", { parameters: { day: ["a", "b"] } });
      expectTypeOf(many).toEqualTypeOf<Ref<ChildFlowRun[]>>();
      return { one, many };
    });
    assert.deepEqual(
      f.build().nodes.map((n) => [n.slug, n.mapped]),
      [
        ["run-fof-child-1", false],
        ["run-fof-child-2", true],
      ],
    );
  });

  test("bad options are refused where the flow is built", () => {
    assert.throws(
      () => flow("fof-bad", () => startFlowRun("x", { raiseOnFailure: true })).build(),
      { code: "INVALID_TASK_OPTIONS", message: /raiseOnFailure needs wait: true/ },
    );
  });
});
