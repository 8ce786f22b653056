// Names a reader cannot confuse: the server's API types (src/serialization/api-schemas.ts)
// name records as `XxxRecord`, so none of them shares a name with the in-process
// objects users and the agent hold (core's `FlowRun`, the agent's `Agent`, anything the
// public API exports). The check reads the modules' exported names with the TypeScript
// parser, types included, so a new collision fails here rather than in a reader's head.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { expectTypeOf } from "expect-type";
import ts from "typescript";
import type { Agent } from "../../src/agent/agent.ts";
import type { FlowRun } from "../../src/index.ts";
import type {
  AgentRecord,
  FlowRunDetail,
  FlowRunRecord,
  TaskRunRecord,
} from "../../src/serialization/api-schemas.ts";
import * as api from "../../src/serialization/api-schemas.ts";

/** The names a module exports (values and types), from its source. */
function exportedNames(path: string): Set<string> {
  const file = new URL(`../../${path}`, import.meta.url);
  const source = ts.createSourceFile(path, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const names = new Set<string>();
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (clause !== undefined && ts.isNamedExports(clause)) {
        for (const element of clause.elements) names.add(element.name.text);
      }
      continue;
    }
    const exported = ts.canHaveModifiers(statement)
      ? ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
      : false;
    if (!exported) continue;
    if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) {
        if (ts.isIdentifier(d.name)) names.add(d.name.text);
      }
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement)) &&
      statement.name !== undefined
    ) {
      names.add(statement.name.text);
    }
  }
  return names;
}

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
