import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { flow, parameter, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const range = task("range", (n: number) => Array.from({ length: n }, (_, i) => i));
const double = task("double", (x: number) => x * 2);
const inc = task("inc", (x: number) => x + 1);
const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));

// Correctness at scale only: speed belongs to bench/.
describe("large flows", () => {
  test("200,000 mapped children complete with the right result", async () => {
    const n = 200_000;
    const f = flow(unique("large-map"), () => {
      const doubled = double.map(range(parameter("n", n)));
      return { doubled, total: sum(doubled) };
    });
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(f.outputs.total), n * (n - 1));
    const parent = run.stateOf(f.outputs.doubled);
    assert.equal(parent.children?.length, n);
    assert.ok(parent.children?.every((c) => c.type === "Success"));
    const results = run.result(f.outputs.doubled);
    assert.equal(results[n - 1], 2 * (n - 1));
  });

  test("a chain of 50,000 dependent tasks", async () => {
    const f = flow(unique("large-chain"), () => {
      let last = double(parameter("n", 1));
      for (let i = 1; i < 50_000; i++) last = inc(last);
      return last;
    });
    const run = await f.run();
    assert.equal(run.result(f.outputs), 2 + 49_999);
  });

  test("a wide flow of 20,000 task nodes fanning into one", async () => {
    const width = 20_000;
    const f = flow(unique("large-wide"), () => {
      const n = parameter("n", 1);
      const parts = Array.from({ length: width }, () => double(n));
      return sum(parts);
    });
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter, parameters: { n: 3 } });
    assert.equal(run.result(f.outputs), 6 * width);
    assert.equal(run.taskStates.size, width + 2);
    assert.equal(run.stateOf(`double-${width}`).type, "Success");
    assert.deepEqual(reporter.flowTypes(), ["Running", "Success"]);
  });
});
