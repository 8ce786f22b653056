// The task gate across the flow-run protocol, both ends wired by their lines: the child's
// requests reach the parent's gate, its answers (waiting, ok, error) come back, a child that
// stops waiting leaves nothing taken, and the child holds its process only while asking.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatedTaskRun, TaskGate } from "../../src/core/task-gate.ts";
import {
  createChildTaskGate,
  createGateAnswerer,
  gateEventSchema,
} from "../../src/serialization/flow-run-gate.ts";
import { parseEventLine } from "../../src/serialization/flow-run-protocol.ts";

/** A parent gate with one slot, recording who holds it. */
function oneSlot() {
  let holder: string | undefined;
  const waiters: (() => void)[] = [];
  const gate: TaskGate = {
    async enter(t, signal, waiting) {
      while (holder !== undefined) {
        waiting(`held by ${holder}`);
        await new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
      }
      if (t.slug === "refused") throw Object.assign(new Error("no"), { code: "STALE_VERSION" });
      holder = `${t.flowRunId}/${t.slug}`;
    },
    async exit(t) {
      if (holder === `${t.flowRunId}/${t.slug}`) holder = undefined;
      for (const w of waiters.splice(0)) w();
    },
  };
  return { gate, holder: () => holder };
}

function wired() {
  const parent = oneSlot();
  const holds: boolean[] = [];
  let answerer: ReturnType<typeof createGateAnswerer>;
  const child = createChildTaskGate({
    // Each request crosses as an event line, parsed as the parent parses every line.
    send: (line) => {
      const event = parseEventLine(line.trimEnd());
      assert.equal(event.event, "gate");
      queueMicrotask(() => answerer.handle(gateEventSchema.parse(event)));
    },
    hold: (open) => holds.push(open),
  });
  answerer = createGateAnswerer(parent.gate, "run-1", (line) =>
    queueMicrotask(() => child.answer(line.trimEnd())),
  );
  return { parent, child: child.gate, holds };
}

const task = (slug: string): GatedTaskRun => ({
  flowRunId: "run-1",
  slug,
  mapIndex: undefined,
  tags: ["db"],
});

test("enter, waiting, ok and exit cross both ways; refusals come back as errors with their code", async () => {
  const { parent, child, holds } = wired();
  const signal = new AbortController().signal;
  await child.enter(task("a"), signal, () => assert.fail("a does not wait"));
  assert.equal(parent.holder(), "run-1/a");
  const said: string[] = [];
  const b = child.enter(task("b"), signal, (m) => said.push(m));
  while (said.length === 0) await new Promise((r) => setImmediate(r));
  assert.deepEqual(said, ["held by run-1/a"]);
  await child.exit(task("a"));
  await b;
  assert.equal(parent.holder(), "run-1/b");
  await child.exit(task("b"));
  await assert.rejects(
    child.enter(task("refused"), signal, () => {}),
    (e: Error & { code?: string }) => {
      assert.equal(e.message, "no");
      assert.equal(e.code, "STALE_VERSION");
      return true;
    },
  );
  assert.equal(holds.at(-1), false, "no request open: the process is not held");
  assert.ok(holds.includes(true));
});

test("a child that stops waiting leaves nothing taken on the parent's side", async () => {
  const { parent, child } = wired();
  const never = new AbortController().signal;
  await child.enter(task("a"), never, () => {});
  const controller = new AbortController();
  const waiting = child.enter(task("b"), controller.signal, () =>
    controller.abort(new Error("cancelled")),
  );
  await assert.rejects(waiting, /cancelled/);
  await child.exit(task("a"));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(parent.holder(), undefined, "b's cancelled request took nothing");
});
