// How `weft run` loads a user's flow file from a directory of its own, outside
// the repository: TypeScript or JavaScript, with or without a weftflow beside it.
// Its `import … from "weftflow"` must be the weft that runs it (one runtime: a
// task's context() works), whatever the file's directory would resolve.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { assertCliError, parseJsonRun } from "../support/cli-result.ts";
import { runWeft, stopAll } from "../support/weft-process.ts";

const root = mkdtempSync(join(tmpdir(), "weft-flow-modules-"));
after(async () => {
  await stopAll();
  rmSync(root, { recursive: true, force: true });
});

/** A flow whose task reads its context(), which only works on the runtime that runs it. */
const FLOW_TS = `import { context, flow, task } from "weftflow";
const whoAmI = task("who", (greeting: string) => \`\${greeting} from \${context().taskSlug}\`);
export const modules = flow("modules", () => whoAmI("hello"));
`;
const FLOW_JS = FLOW_TS.replace("(greeting: string)", "(greeting)");

/** Writes a project directory: files by relative path. */
function project(name: string, files: Readonly<Record<string, string>>): string {
  const dir = join(root, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** A package named weftflow that is not this weft: loading it fails the flow loudly. */
const IMPOSTOR = {
  "node_modules/weftflow/package.json": JSON.stringify({
    name: "weftflow",
    version: "0.0.0-impostor",
    type: "module",
    exports: "./index.js",
  }),
  "node_modules/weftflow/index.js":
    'throw new Error("the flow loaded the weftflow of its own directory, not the weft that runs it");\n',
};

async function runsOnThisWeft(file: string): Promise<void> {
  const result = await runWeft(["run", file, "--json"], { timeoutMs: 120_000 });
  assert.equal(result.code, 0, `exit 0\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  const run = parseJsonRun(result);
  assert.equal(run.state.type, "Success");
  assert.deepEqual(
    run.tasks.map((t) => [t.slug, t.type]),
    [["who-1", "Success"]],
  );
}

describe("weft run: flow files outside the repository", { concurrency: 4 }, () => {
  test("TypeScript in a directory without weftflow: its weftflow is the weft that runs it", async () => {
    const dir = project("ts-bare", { "package.json": '{"type":"module"}\n', "flow.ts": FLOW_TS });
    await runsOnThisWeft(join(dir, "flow.ts"));
  });

  test("JavaScript (.mjs) in a directory without weftflow, and without a package.json", async () => {
    const dir = project("mjs-bare", { "flow.mjs": FLOW_JS });
    await runsOnThisWeft(join(dir, "flow.mjs"));
  });

  test("a weftflow of the file's own directory is not the one it gets (TypeScript and JavaScript)", async () => {
    const dir = project("impostor", {
      "package.json": '{"type":"module"}\n',
      "flow.ts": FLOW_TS,
      "flow.js": FLOW_JS,
      ...IMPOSTOR,
    });
    await runsOnThisWeft(join(dir, "flow.ts"));
    await runsOnThisWeft(join(dir, "flow.js"));
  });

  test("a CommonJS TypeScript file with no weftflow to require() is refused with the fix", async () => {
    // No package.json: Node (and tsx) treat flow.ts as CommonJS, which resolves by require().
    const dir = project("cjs-bare", { "flow.ts": FLOW_TS });
    const result = await runWeft(["run", join(dir, "flow.ts")], { timeoutMs: 120_000 });
    assertCliError(result, {
      code: "FLOW_MODULE_IMPORT_FAILED",
      says: ["flow.ts", "Cannot find module 'weftflow'"],
      hint: /ES module.*\.mts.*"type": "module"/,
    });
  });
});
