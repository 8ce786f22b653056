// Ordering-only mapping: `task.map(xs).after(ref)` orders every child after a
// task, and `task.mapAfter(over, …)` runs one child per item of `over` without
// passing the item (Prefect's `upstream_tasks` on a map).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { Fail, flow, isWeftError, task, unmapped } from "../../src/index.ts";
import type { SerializedFlow } from "../../src/serialization/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const order: string[] = [];
const setup = task("setup", () => {
  order.push("setup");
  return "ready";
});
const brokenSetup = task("broken-setup", (): string => {
  throw new Error("no database");
});
const load = task("load", (x: number) => {
  order.push(`load ${x}`);
  return x * 10;
});
const upload = task("upload", (file: string) => {
  if (file.startsWith("bad")) throw new Fail(`cannot upload ${file}`);
  return `s3://bucket/${file}`;
});
const files = task("files", () => ["a.csv", "b.csv", "c.csv"]);
const ping = task("ping", () => {
  order.push("ping");
  return "pong";
});
const notify = task("notify", (channel: string, n: number) => `${channel} #${n}`);

describe("task.map(xs).after(ref)", () => {
  test("every child runs after the ordered task, which passes no data", async () => {
    order.length = 0;
    const f = flow(unique("map-after"), () => {
      const ready = setup();
      return load.map([1, 2]).after(ready);
    });
    const run = await f.run({ executor: "concurrent" });
    assert.deepEqual(run.result(f.outputs), [10, 20]);
    assert.equal(order[0], "setup");
    assert.deepEqual(
      [...f.graph.edges()].filter((e) => e.key === "after"),
      [{ upstream: "setup-1", downstream: "load-1", key: "after", mapped: false }],
    );
  });

  test("a failed ordered task: each child is TriggerFailed on its own", async () => {
    const f = flow(unique("map-after-failed"), () => load.map([1, 2]).after(brokenSetup()));
    const run = await f.run();
    const parent = run.stateOf(f.outputs);
    assert.equal(parent.type, "Mapped");
    assert.deepEqual(
      parent.children?.map((c) => c.type),
      ["TriggerFailed", "TriggerFailed"],
    );
  });
});

describe("task.mapAfter(over, …)", () => {
  test("a task with no data argument runs once per child of a mapped upstream, each after it", async () => {
    order.length = 0;
    const reporter = new RecordingReporter();
    const f = flow(unique("map-after-mapped"), () => ping.mapAfter(load.map([1, 2, 3])));
    const run = await f.run({ reporter });
    assert.deepEqual(run.result(f.outputs), ["pong", "pong", "pong"]);
    assert.deepEqual(order, ["load 1", "load 2", "load 3", "ping", "ping", "ping"]);
    for (const i of [0, 1, 2])
      assert.deepEqual(reporter.taskTypes("ping-1", i), ["Running", "Success"]);
    assert.deepEqual(
      [...f.graph.edges()],
      [{ upstream: "load-1", downstream: "ping-1", key: "after", mapped: true }],
    );
  });

  test("child i is judged on child i of the list it follows", async () => {
    const f = flow(unique("map-after-judged"), () =>
      ping.mapAfter(upload.map(["a.csv", "bad.csv", "c.csv"])),
    );
    const run = await f.run();
    assert.deepEqual(
      run.stateOf(f.outputs).children?.map((c) => c.type),
      ["Success", "TriggerFailed", "Success"],
    );
  });

  test("other arguments line up with the list (mapped) or go whole (unmapped)", async () => {
    const f = flow(unique("map-after-args"), () => {
      const uploaded = upload.map(files());
      return notify.mapAfter(uploaded, unmapped("#data"), [1, 2, 3]);
    });
    const run = await f.run();
    assert.deepEqual(run.result(f.outputs), ["#data #1", "#data #2", "#data #3"]);
  });

  test("a reference to an array, or an array, gives the number of children", async () => {
    const f = flow(unique("map-after-list"), () => ({
      fromRef: ping.mapAfter(files()),
      fromArray: notify.mapAfter(["x", "y"], unmapped("c"), unmapped(0)),
      fromRefs: ping.mapAfter([setup(), setup()]),
    }));
    const run = await f.run();
    assert.deepEqual(run.result(f.outputs.fromRef), ["pong", "pong", "pong"]);
    assert.deepEqual(run.result(f.outputs.fromArray), ["c #0", "c #0"]);
    assert.deepEqual(run.result(f.outputs.fromRefs), ["pong", "pong"]);
  });

  test("lists of different lengths, or a list that is not an array, fail the task with a MapError", async () => {
    const count = task("count", () => 3);
    const f = flow(unique("map-after-bad"), () => ({
      uneven: notify.mapAfter(["x", "y"], ["a", "b", "c"], unmapped(1)),
      notArray: ping.mapAfter(count() as never),
    }));
    const run = await f.run();
    const uneven = run.stateOf(f.outputs.uneven);
    assert.equal(uneven.error?.type, "MapError");
    assert.match(uneven.message ?? "", /differ in length: 3 and 2 items \(the mapAfter\(\) list\)/);
    const notArray = run.stateOf(f.outputs.notArray);
    assert.equal(
      notArray.message,
      "the list of ping.mapAfter() must be an array, but count-1 returned number",
    );
  });

  test("a list whose task failed as a whole: the task is judged whole (TriggerFailed)", async () => {
    const noFiles = task("no-files", (): string[] => {
      throw new Error("bucket gone");
    });
    const f = flow(unique("map-after-listless"), () => ping.mapAfter(noFiles()));
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs).type, "TriggerFailed");
  });

  test("anything but a reference or an array is refused when the flow is built", () => {
    assert.throws(
      () => flow(unique("map-after-refused"), () => ping.mapAfter(3 as never)).build(),
      (e) =>
        isWeftError(e) &&
        e.code === "INVALID_ARGUMENT" &&
        /ping\.mapAfter\(\): its first argument must be .* got number 3/.test(e.message),
    );
  });

  test("serializes with a mapped ordering edge that the flow schema accepts", () => {
    const f = flow(unique("map-after-json"), () => ping.mapAfter(load.map([1])));
    const json = f.serialize() as SerializedFlow;
    assert.deepEqual(json.edges, [
      { upstream: "load-1", downstream: "ping-1", key: "after", mapped: true },
    ]);
    assert.equal(json.tasks[1]?.mapped, true);
  });
});
