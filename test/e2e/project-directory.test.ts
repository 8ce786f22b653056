// Relative paths in a flow run by an agent (issue 13, item 13): local storage
// records the flow's project directory at registration (the nearest
// package.json above its file), and the agent runs the flow there, in its own
// process (local environment) or as the child's cwd (subprocess), whatever
// directory `weft up` was started in.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { createApiClient } from "../../src/client/api-client.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";
import { describeOutput, startWeft, stopAll } from "../support/weft-process.ts";

const root = realpathSync(mkdtempSync(join(tmpdir(), "weft-project-dir-")));
after(async () => {
  await stopAll();
  rmSync(root, { recursive: true, force: true });
});

test("a flow reading ./data.txt of its project succeeds when an agent elsewhere runs it", async () => {
  const project = join(root, "project");
  const elsewhere = join(root, "elsewhere");
  const home = join(root, "home");
  for (const dir of [join(project, "flows"), elsewhere, home]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(project, "package.json"), '{ "name": "project", "type": "module" }\n');
  writeFileSync(join(project, "data.txt"), "from the project\n");
  // The flow's file sits in a subfolder: the project is where package.json is.
  const file = join(project, "flows", "data-flow.ts");
  writeFileSync(
    file,
    [
      'import { readFileSync } from "node:fs";',
      'import { flow, task } from "weftflow";',
      "",
      'const read = task("read-data", () => readFileSync("./data.txt", "utf8").trim());',
      "",
      'export const projectData = flow("project-data", () => read());',
      "",
    ].join("\n"),
  );

  const up = startWeft(["up", "--port", "0"], {
    cwd: elsewhere,
    env: { WEFT_HOME: home },
    timeoutMs: 300_000,
  });
  const [, url] = await up.waitFor(/^weft is up: (\S+)$/m, { stream: "stdout" });
  const api = createApiClient({ url: url! });

  for (const environment of ["local", "subprocess"]) {
    const registered = await runCli(
      ["register", file, "--environment", environment, "--api", url!, "--json"],
      { env: { WEFT_HOME: home } },
    );
    assert.equal(registered.code, 0, explain(registered));
    const { flows } = JSON.parse(registered.stdout) as { flows: { id: string }[] };
    const detail = await api.getFlow(flows[0]!.id);
    assert.deepEqual(
      (detail.flow.storage as { projects?: unknown } | undefined)?.projects,
      { "project-data": project },
      "local storage records the project directory",
    );

    const run = await runCli(["run", "--remote", "project-data", "--wait", "--api", url!], {
      env: { WEFT_HOME: home },
    });
    assert.equal(run.code, 0, `${environment}: ${explain(run)}${describeOutput(up)}`);
    assert.match(run.stdout, /^read-data-1 +Success/m, environment);
  }
});
