// The README's samples (issue 13, item 19): the flow module of "A flow" only
// exports its flow (a module that ran it at import ran it again under every
// `weft run`, `weft register` and agent run) and runs as the README says; the
// `weft run --help` examples name parameters their flows have.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadFlowFile } from "../../src/engine/flow-loader.ts";
import { runCli } from "../support/cli.ts";
import { parseJsonRun } from "../support/cli-result.ts";
import { repoRoot } from "../support/weft-process.ts";

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "weft-readme-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The ```ts blocks of a `## heading` section. */
function tsBlocks(heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.notEqual(start, -1, `README has no section ${heading}`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe("README", { concurrency: true }, () => {
  test('"A flow": the module only exports the flow; a separate script runs it', async () => {
    const [module, script] = tsBlocks("A flow");
    assert.ok(module && script, "a flow module and a script");
    assert.doesNotMatch(module, /\.run\(/, "importing the flow module must not run the flow");
    assert.match(script, /import \{ demo \} from "\.\/demo\.ts";/);
    assert.match(script, /await demo\.run\(\{ parameters: \{ x: 5 \} \}\)/);

    // As in "Use weft in your project": flows are ES modules.
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
    const file = join(dir, "demo.ts");
    writeFileSync(file, module);
    const result = await runCli(["run", file, "--param", "x=5", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const run = parseJsonRun(result) as ReturnType<typeof parseJsonRun> & { outputs?: unknown };
    assert.equal(run.state.type, "Success");
    // What the script's comments promise.
    assert.match(script, /run\.outputs; +\/\/ \{ y: 7, z: \[9, 10, 11\] \}/);
    assert.deepEqual(run.outputs, { y: 7, z: [9, 10, 11] });
  });

  test("weft run --help: every --param of an example is a parameter of its flow", async () => {
    const help = await runCli(["run", "--help"]);
    const examples = help.stdout
      .split("Examples:")[1]!
      .split("\n")
      .filter((l) => l.includes("--param "));
    assert.ok(examples.length > 0, help.stdout);
    const byName = new Map<string, Set<string>>();
    for (const example of ["etl.ts", "map.ts", "retries-and-triggers.ts"]) {
      for (const flow of await loadFlowFile(join(repoRoot, "examples", example)))
        byName.set(flow.name, new Set(flow.parameters.keys()));
    }
    for (const line of examples) {
      const remote = /--remote (\S+)/.exec(line)?.[1];
      const file = /(examples\/\S+\.ts)/.exec(line)?.[1];
      const params =
        remote !== undefined
          ? byName.get(remote)
          : new Set(
              (await loadFlowFile(join(repoRoot, file!))).flatMap((f) => [...f.parameters.keys()]),
            );
      assert.ok(params, `${line}: no example flow named ${remote}`);
      for (const [, name] of line.matchAll(/--param (\w+)=/g))
        assert.ok(
          params.has(name!),
          `${line}: its flow has no parameter ${name} (${[...params].join(", ")})`,
        );
    }
  });
});
