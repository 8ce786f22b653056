import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { context, flow, type Logger, parameter, type Reporter, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const inc = task("inc", async (x: number) => {
  await sleep(1);
  return x + 1;
});
const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));

const name = unique("reported");
const reported = flow(name, () => {
  const n = parameter("n", 1);
  const a = inc(n);
  const many = inc.map([a, 10, 20]);
  return sum(many);
});

/** A logger that keeps what it is told. */
function memoryLogger() {
  const lines: string[] = [];
  const write = (message: string) => lines.push(message);
  const logger: Logger = { debug: write, info: write, warn: write, error: write };
  return { logger, lines };
}

describe("reporter events", () => {
  test("flow Running first, each task Running before its final state, flow final last, then close", async () => {
    const reporter = new RecordingReporter();
    const run = await reported.run({ reporter, parameters: { n: 2 } });
    assert.equal(run.result(reported.outputs), 4 + 11 + 21);
    const ev = reporter.events;
    assert.deepEqual(reporter.flowTypes(), ["Running", "Success"]);
    assert.equal(ev[0]?.kind, "flow");
    assert.equal(ev.at(-2)?.kind, "flow");
    assert.deepEqual(ev.at(-1), { kind: "close" });
    assert.equal(ev.filter((e) => e.kind === "close").length, 1);

    const info = ev[0]?.kind === "flow" ? ev[0].run : undefined;
    assert.deepEqual(
      { ...info, parameters: { ...info?.parameters } },
      { id: run.id, flowName: name, parameters: { n: 2 }, taskCount: 4 },
    );

    assert.deepEqual(reporter.taskTypes("n"), ["Success"]);
    assert.deepEqual(reporter.taskTypes("inc-1"), ["Running", "Success"]);
    for (const i of [0, 1, 2])
      assert.deepEqual(reporter.taskTypes("inc-2", i), ["Running", "Success"]);
    assert.deepEqual(reporter.taskTypes("inc-2"), ["Mapped"]);
    assert.deepEqual(reporter.taskTypes("sum-1"), ["Running", "Success"]);

    // Causality: a task starts only after its upstream finished; a parent after its children.
    const at = (slug: string, type: string, mapIndex?: number) =>
      ev.findIndex(
        (e) =>
          e.kind === "task" && e.slug === slug && e.mapIndex === mapIndex && e.state.type === type,
      );
    assert.ok(at("n", "Success") < at("inc-1", "Running"));
    assert.ok(at("inc-1", "Success") < at("inc-2", "Running", 0));
    for (const i of [0, 1, 2]) assert.ok(at("inc-2", "Success", i) < at("inc-2", "Mapped"));
    assert.ok(at("inc-2", "Mapped") < at("sum-1", "Running"));
    // The reported final states are the run's final states.
    assert.equal(reporter.taskStates("sum-1").at(-1), run.stateOf("sum-1"));
  });

  test("a reporter that throws is disabled, the run goes on, and the engine's logger hears why", async () => {
    let calls = 0;
    const reporter: Reporter = {
      taskState() {
        calls++;
        throw new Error("disk full");
      },
    };
    const { logger, lines } = memoryLogger();
    const run = await reported.run({ reporter, logger });
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(reported.outputs), 3 + 11 + 21);
    assert.equal(calls, 1, "the broken reporter is not called again");
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /reporter\.taskState threw/);
    assert.match(lines[0]!, /disk full/);
  });

  test("flowState and log throwing do not break the run either", async () => {
    let logCalls = 0;
    const logging = task("logging", (x: number) => {
      context().logger.info("first");
      context().logger.info("second");
      return x;
    });
    const f = flow(unique("reporter-throws"), () => logging(1));
    const brokenFlowState = await f.run({
      reporter: {
        flowState() {
          throw new TypeError("flowState broke");
        },
      },
    });
    assert.equal(brokenFlowState.state.type, "Success");
    const brokenLog = await f.run({
      reporter: {
        log() {
          logCalls++;
          throw new Error("log broke");
        },
      },
    });
    assert.equal(brokenLog.state.type, "Success");
    assert.equal(brokenLog.result(f.outputs), 1);
    assert.equal(logCalls, 1);
  });

  // Found while writing this suite: the run used to reject with close()'s error.
  test("a reporter whose close() throws or rejects does not break the run", async () => {
    const { logger, lines } = memoryLogger();
    const sync = await reported.run({
      logger,
      reporter: {
        close() {
          throw new Error("flush failed");
        },
      },
    });
    assert.equal(sync.state.type, "Success");
    const async = await reported.run({
      logger,
      reporter: {
        close: async () => {
          throw new Error("flush failed later");
        },
      },
    });
    assert.equal(async.state.type, "Success");
    assert.equal(lines.length, 2);
  });
});
