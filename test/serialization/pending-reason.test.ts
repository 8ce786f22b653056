// Why a pending run is not starting: the three reasons `weft runs inspect` gives.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AgentRecord, FlowRunRecord } from "../../src/serialization/api-schemas.ts";
import { explainPending } from "../../src/serialization/pending-reason.ts";

const now = new Date("2026-11-27T10:00:00.000Z");
const at = (offsetMs: number) => new Date(now.getTime() + offsetMs).toISOString();

function run(
  labels: string[],
  scheduledStart = at(-1000),
  type: FlowRunRecord["state"]["type"] = "Scheduled",
): FlowRunRecord {
  return {
    id: "run-1",
    flowId: "flow-1",
    flowName: "etl",
    flowVersion: 1,
    name: "run",
    parameters: {},
    labels,
    state: { schemaVersion: 1, type, timestamp: at(-2000) },
    version: 1,
    scheduledStart,
    autoScheduled: false,
    rescheduleCount: 0,
    claimCount: 0,
    createdAt: at(-2000),
  };
}
function agent(id: string, labels: string[], lastSeenAgoMs = 1000, concurrency = 1): AgentRecord {
  return {
    id,
    name: id,
    labels,
    concurrency,
    lastSeen: at(-lastSeenAgoMs),
    createdAt: at(-60_000),
  };
}

describe("explainPending", () => {
  test("a run scheduled in the future is not yet due", () => {
    const why = explainPending(run([], at(90_000)), { agents: [], busy: new Map(), now });
    assert.match(why ?? "", /not yet due: scheduled for .* \(in 90 s\)/);
  });

  test("no live agent with the labels: names the labels and the live agents", () => {
    const why = explainPending(run(["gpu"]), {
      agents: [agent("a1", ["cpu"]), agent("gone", ["gpu"], 120_000)],
      busy: new Map(),
      now,
    });
    assert.match(why ?? "", /no live agent carries labels \[gpu\]/);
    assert.match(why ?? "", /a1 \[cpu\]/);
    assert.doesNotMatch(why ?? "", /gone/, "an agent unseen for 2 minutes is not live");
  });

  test("all matching agents busy: says how busy each one is", () => {
    const why = explainPending(run(["gpu"]), {
      agents: [agent("a1", ["gpu", "x"]), agent("a2", ["cpu"])],
      busy: new Map([["a1", 1]]),
      now,
    });
    assert.match(why ?? "", /every agent that carries labels \[gpu\] is busy: a1 runs 1\/1/);
  });

  test("due, with a free matching agent: it should start soon; other states: nothing to explain", () => {
    const facts = { agents: [agent("a1", ["gpu"], 1000, 2)], busy: new Map([["a1", 1]]), now };
    assert.match(explainPending(run(["gpu"]), facts) ?? "", /1 live agent\(s\) can take it/);
    assert.equal(explainPending(run(["gpu"], at(-1000), "Running"), facts), undefined);
  });
});
