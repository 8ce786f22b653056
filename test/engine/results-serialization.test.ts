// Where an environment says a retry may run in another process, a task that
// retries (or caches) must find its inputs there: flow.serialize() refuses,
// naming the tasks, when an input comes from a task whose result is not
// persisted (no result backend, or checkpoint: false upstream).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  createLocalResultBackend,
  type FlowEnvironment,
  flow,
  isWeftError,
  parameter,
  task,
} from "../../src/index.ts";
import { unique } from "../fixtures/results/results-helpers.ts";

/** An environment whose retries run elsewhere (a distributed executor's stand-in). */
const distributed: FlowEnvironment = {
  type: "distributed-test",
  labels: [],
  storageNeeds: "none",
  retriesElsewhere: true,
  toJSON: () => ({ type: "distributed-test", schemaVersion: 1 }),
};
/** The same, with retries in the same process. */
const inProcess: FlowEnvironment = { ...distributed, retriesElsewhere: false };

const source = task("source", () => [1, 2, 3]);
const fragile = task("fragile", (rows: number[]) => rows.length, { retries: 2 });
const steady = task("steady", (rows: number[]) => rows.length);
const fragileCount = task("fragile", (n: number) => n + 1, { retries: 2 });
const cached = task("cached", (rows: number[]) => rows.length, { cacheFor: 60_000 });
const backend = () => createLocalResultBackend({ directory: "/tmp/weft-results-unused" });

function refusal(...says: string[]) {
  return (error: unknown) => {
    assert.ok(isWeftError(error), String(error));
    assert.equal(error.code, "RESULT_NOT_PERSISTED");
    for (const part of says) assert.ok(error.message.includes(part), `${error.message} ∌ ${part}`);
    return true;
  };
}

describe("serializing for an environment whose retries run elsewhere", () => {
  test("no result backend: a retrying task with a task input is refused, naming both", () => {
    const name = unique("dist-nobackend");
    const f = flow(name, () => fragile(source()));
    assert.throws(
      () => f.serialize({ environment: distributed }),
      refusal(name, "distributed-test", "fragile-1 (inputs from source-1)"),
    );
    try {
      f.serialize({ environment: distributed });
    } catch (error) {
      assert.ok(isWeftError(error));
      assert.match(error.hint ?? "", /result backend/);
    }
  });

  test("checkpoint: false upstream: refused, with the hint to turn checkpointing back on", () => {
    const name = unique("dist-nockpt");
    const volatile = source.with({ checkpoint: false });
    const f = flow(name, () => fragile(volatile()), { result: backend() });
    assert.throws(
      () => f.serialize({ environment: distributed }),
      (error: unknown) =>
        refusal("fragile-1 (inputs from source-1)")(error) &&
        isWeftError(error) &&
        (error.hint ?? "").includes("checkpoint"),
    );
  });

  test("a result backend with checkpointing upstream: accepted, and the backend travels", () => {
    const name = unique("dist-ok");
    const f = flow(name, () => fragile(source()), { result: backend() });
    const json = f.serialize({ environment: distributed });
    assert.deepEqual(json.environment, { type: "distributed-test", schemaVersion: 1 });
    assert.equal((json.result as { type?: string } | undefined)?.type, "local");
  });

  test("every offending task is named, and tasks without retries or cache are not", () => {
    const name = unique("dist-many");
    const f = flow(name, () => {
      const rows = source();
      return [fragile(rows), steady(rows), cached(rows), fragileCount(steady(rows))];
    });
    assert.throws(
      () => f.serialize({ environment: distributed }),
      (error: unknown) =>
        refusal(
          "fragile-1 (inputs from source-1)",
          "cached-1 (inputs from source-1)",
          "fragile-2 (inputs from steady-2)",
        )(error) &&
        isWeftError(error) &&
        !/steady-1 \(/.test(error.message),
    );
  });

  test("inputs from parameters and ordering-only (after) edges need no persisted result", () => {
    const name = unique("dist-params");
    const f = flow(name, () => {
      const first = source();
      return fragile(parameter("rows", [1])).after(first);
    });
    const json = f.serialize({ environment: distributed });
    assert.equal(json.name, name);
  });

  test("mixed upstreams: only the unpersisted one is named", () => {
    const name = unique("dist-mixed");
    const both = task("both", (a: number[], b: number[]) => a.length + b.length, { retries: 1 });
    const volatile = source.with({ checkpoint: false });
    const f = flow(name, () => both(source(), volatile()), { result: backend() });
    assert.throws(
      () => f.serialize({ environment: distributed }),
      (error: unknown) =>
        refusal("both-1 (inputs from source-2)")(error) &&
        isWeftError(error) &&
        !error.message.includes("source-1,"),
    );
  });

  test("an environment whose retries stay in the process accepts anything", () => {
    const f = flow(unique("dist-inproc"), () => fragile(source()));
    const json = f.serialize({ environment: inProcess });
    assert.equal((json.environment as { type?: string } | undefined)?.type, "distributed-test");
    assert.equal(f.serialize().name, f.name);
  });
});
