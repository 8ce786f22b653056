import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { context, flow, isWeftError, task } from "../../src/index.ts";

const isOutside = (e: unknown) =>
  isWeftError(e) && e.code === "CONTEXT_OUTSIDE_TASK" && /outside a running task/.test(e.message);

test("context() outside a task throws CONTEXT_OUTSIDE_TASK", () => {
  assert.throws(() => context(), isOutside);
});

test("context() inside a flow builder is still outside a task", () => {
  const f = flow(`ctx-builder-${randomUUID()}`, () => {
    context();
    return 1;
  });
  assert.throws(() => f.build(), isOutside);
});

test("context() after a task finished is outside again, and task.fn called directly has none", async () => {
  const probe = task("probe", () => context().taskSlug);
  const f = flow(`ctx-after-${randomUUID()}`, () => probe());
  const run = await f.run();
  assert.equal(run.result(f.outputs), "probe-1");
  assert.throws(() => context(), isOutside);
  assert.throws(() => probe.fn(), isOutside);
});
