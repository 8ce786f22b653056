import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { context, flow, parameter, type TaskContext, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

type Seen = Omit<TaskContext, "logger" | "signal" | "loop" | "approved"> & { aborted: boolean };

function snapshot(ctx: TaskContext): Seen {
  return {
    flowRunId: ctx.flowRunId,
    flowName: ctx.flowName,
    taskSlug: ctx.taskSlug,
    taskName: ctx.taskName,
    mapIndex: ctx.mapIndex,
    attempt: ctx.attempt,
    parameters: { ...ctx.parameters }, // a copy: the run's own has no prototype
    env: { ...ctx.env },
    aborted: ctx.signal.aborted,
  };
}

describe("context() in a task", () => {
  test("names the run, the flow, the task, the child and the attempt", async () => {
    const seen: Seen[] = [];
    const probe = task(
      "probe",
      async (x: number) => {
        const before = context();
        await sleep(1);
        // Still the same context after an await.
        assert.equal(context(), before);
        seen.push(snapshot(before));
        if (before.mapIndex === 1 && before.attempt === 1) throw new Error("once");
        return x;
      },
      { retries: 1 },
    );
    const name = unique("ctx-fields");
    const f = flow(name, () => {
      const n = parameter("n", 2);
      return { single: probe(n), many: probe.map([7, 8]) };
    });
    const flowRunId = randomUUID();
    const env = { WEFT_API_URL: "http://127.0.0.1:1" };
    const run = await f.run({ flowRunId, parameters: { n: 3 }, env });
    assert.equal(run.state.type, "Success");
    const common = {
      flowRunId,
      flowName: name,
      taskName: "probe",
      parameters: { n: 3 },
      env,
      aborted: false,
    };
    const byKey = (s: Seen) => `${s.taskSlug}/${s.mapIndex}/${s.attempt}`;
    assert.deepEqual(
      seen.sort((a, b) => byKey(a).localeCompare(byKey(b))),
      [
        { ...common, taskSlug: "probe-1", mapIndex: undefined, attempt: 1 },
        { ...common, taskSlug: "probe-2", mapIndex: 0, attempt: 1 },
        { ...common, taskSlug: "probe-2", mapIndex: 1, attempt: 1 },
        { ...common, taskSlug: "probe-2", mapIndex: 1, attempt: 2 },
      ],
    );
  });

  test("a synchronous task sees its own context too", async () => {
    const who = task("who", (_: number) => `${context().taskSlug}#${context().mapIndex}`);
    const f = flow(unique("ctx-sync"), () => who.map([1, 2]));
    assert.deepEqual((await f.run()).result(f.outputs), ["who-1#0", "who-1#1"]);
  });

  test("the logger reaches reporter.log with the run, task, child, level and fields", async () => {
    const chatty = task("chatty", (x: number) => {
      const { logger } = context();
      logger.info(`working on ${x}`, { x });
      if (x === 2) logger.warn("two is suspicious");
      logger.debug("done");
      return x;
    });
    const reporter = new RecordingReporter();
    const f = flow(unique("ctx-logger"), () => ({ one: chatty(0), many: chatty.map([1, 2]) }));
    const run = await f.run({ reporter, executor: "serial" });
    const logs = reporter.logs();
    assert.equal(logs.length, 7);
    for (const r of logs) {
      assert.equal(r.flowRunId, run.id);
      assert.equal(typeof r.time, "number");
    }
    const strip = logs.map(({ time: _t, flowRunId: _f, ...rest }) => rest);
    assert.deepEqual(strip, [
      { level: "info", message: "working on 0", taskSlug: "chatty-1", fields: { x: 0 } },
      { level: "debug", message: "done", taskSlug: "chatty-1" },
      {
        level: "info",
        message: "working on 1",
        taskSlug: "chatty-2",
        mapIndex: 0,
        fields: { x: 1 },
      },
      { level: "debug", message: "done", taskSlug: "chatty-2", mapIndex: 0 },
      {
        level: "info",
        message: "working on 2",
        taskSlug: "chatty-2",
        mapIndex: 1,
        fields: { x: 2 },
      },
      { level: "warn", message: "two is suspicious", taskSlug: "chatty-2", mapIndex: 1 },
      { level: "debug", message: "done", taskSlug: "chatty-2", mapIndex: 1 },
    ]);
  });

  test("logging without a reporter is harmless", async () => {
    const quiet = task("quiet", () => {
      context().logger.error("nobody listens");
      return 1;
    });
    const f = flow(unique("ctx-nolog"), () => quiet());
    assert.equal((await f.run()).result(f.outputs), 1);
  });
});
