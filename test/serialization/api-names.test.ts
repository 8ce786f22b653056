// Names a reader cannot confuse: the server's API types (src/serialization/api-schemas.ts)
// name records as `XxxRecord`, so none of them shares a name with the in-process
// objects users and the agent hold (core's `FlowRun`, the agent's `Agent`, anything the
// public API exports). The check reads the modules' exported names with the TypeScript
// parser, types included, so a new collision fails here rather than in a reader's head.
import assert from "node:assert/strict";
import { test } from "node:test";
import { expectTypeOf } from "expect-type";
import type { Agent } from "../../src/agent/agent.ts";
import type { FlowRun } from "../../src/index.ts";
import type {
  AgentRecord,
  FlowRunDetail,
  FlowRunRecord,
  TaskRunRecord,
} from "../../src/serialization/api-schemas.ts";
import * as api from "../../src/serialization/api-schemas.ts";
import { exportedNames } from "../support/exports.ts";

test("no API schema type shares a name with core, the agent or the public API", () => {
  const apiNames = exportedNames("src/serialization/api-schemas.ts");
  assert.ok(apiNames.has("FlowRunRecord") && apiNames.has("flowRunRecordSchema"), "parser sanity");
  for (const other of ["src/core/flow.ts", "src/agent/agent.ts", "src/index.ts"]) {
    const clashes = [...exportedNames(other)].filter((name) => apiNames.has(name));
    assert.deepEqual(clashes, [], `api-schemas.ts and ${other} both export ${clashes.join(", ")}`);
  }
});

test("the server's records are XxxRecord, and their schemas xxxRecordSchema", () => {
  assert.equal(typeof api.flowRunRecordSchema.parse, "function");
  assert.equal(typeof api.taskRunRecordSchema.parse, "function");
  assert.equal(typeof api.agentRecordSchema.parse, "function");
  for (const old of ["flowRunSchema", "taskRunSchema", "agentSchema"]) {
    assert.equal(old in api, false, `api-schemas.ts still exports ${old}`);
  }
  expectTypeOf<FlowRunRecord>().toEqualTypeOf<ReturnType<typeof api.flowRunRecordSchema.parse>>();
  expectTypeOf<TaskRunRecord>().toEqualTypeOf<ReturnType<typeof api.taskRunRecordSchema.parse>>();
  expectTypeOf<AgentRecord>().toEqualTypeOf<ReturnType<typeof api.agentRecordSchema.parse>>();
  expectTypeOf<FlowRunDetail>().toExtend<FlowRunRecord>();
  // The in-process objects keep their names and are other types.
  expectTypeOf<FlowRun>().not.toEqualTypeOf<FlowRunRecord>();
  expectTypeOf<Agent>().not.toEqualTypeOf<AgentRecord>();
});
