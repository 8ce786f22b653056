// Flow names as Prefect users write them ("Example: Mapping", "Map / Reduce 🤓",
// "Report #7 at 100%") through every place a name travels: flow.run and its
// result files, `weft run --flow` (by name or slug), the local, S3 and module
// storages (a location holds the name encoded), and a server on SQLite and
// PostgreSQL (registration, a run by name through an agent, `run --remote`,
// `runs ls --flow`).
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createLocalResultBackend,
  createLocalStorage,
  createModuleStorage,
  createS3Storage,
  type Storage,
  storageFromJSON,
} from "../../src/index.ts";
import { startTestServer } from "../agent/agent-server.ts";
import { hashed, mapping, reduce } from "../fixtures/names/odd-names.ts";
import { POSTGRES_URL } from "../server/dialects.ts";
import { type S3TestServer, startS3TestServer } from "../storage/s3-server.ts";
import { repoRoot } from "../storage/storage.case.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";

const FIXTURE = "test/fixtures/names/odd-names.ts";
let root: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), "weft-names-"));
});
after(() => rmSync(root, { recursive: true, force: true }));

describe("printable flow names", () => {
  test("flow.run: results go under the flow's slug, tasks under their slugs", async () => {
    const directory = join(root, "results");
    const run = await mapping.run({
      parameters: { n: 1 },
      result: createLocalResultBackend({ directory }),
    });
    assert.equal(run.state.type, "Success");
    assert.equal(run.outputs, 2 + 3 + 4);
    assert.deepEqual(readdirSync(directory), ["example-mapping"]);
    assert.equal(
      run.stateOf("sum #1 (100%)-1").location,
      `example-mapping/sum #1 (100%)-1/-/${run.id}`,
    );
  });

  test("weft run <file> --flow takes the name or its slug; an unknown one lists the names", async () => {
    for (const choice of ["Map / Reduce 🤓", "map-reduce"]) {
      const result = await runCli(["run", FIXTURE, "--flow", choice, "--json"]);
      assert.equal(result.code, 0, explain(result));
      const doc = JSON.parse(result.stdout) as { flow: string; state: { type: string } };
      assert.equal(doc.flow, "Map / Reduce 🤓");
      assert.equal(doc.state.type, "Success");
    }
    // Through a flow-run process: the location it is given holds the name encoded ("#", "%").
    const sub = await runCli(
      ["run", FIXTURE, "--flow", "Report #7 at 100%", "--environment", "subprocess", "--json"],
      { env: { WEFT_HOME: join(root, "home") } },
    );
    assert.equal(sub.code, 0, explain(sub));
    assert.equal(JSON.parse(sub.stdout).flow, "Report #7 at 100%");
    const missing = await runCli(["run", FIXTURE, "--flow", "nope"]);
    assert.equal(missing.code, 2, explain(missing));
    assert.match(missing.stderr, /Example: Mapping/);
  });

  describe("storages keep and load them", () => {
    let s3: S3TestServer;
    before(async () => {
      s3 = await startS3TestServer();
      process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    });
    after(() => s3?.close());

    const kinds: [string, () => Promise<Storage>][] = [
      [
        "local",
        async () =>
          createLocalStorage({ directory: join(root, "flows"), cacheDir: join(root, "c1") }),
      ],
      [
        "s3",
        async () =>
          createS3Storage({
            bucket: await s3.createBucket("weft-names"),
            prefix: "flows",
            endpoint: s3.endpoint,
            cacheDir: join(root, "c2"),
          }),
      ],
      ["module", async () => createModuleStorage({ module: `./${FIXTURE}`, basedir: repoRoot })],
    ];
    for (const [kind, make] of kinds) {
      test(`${kind} storage`, async () => {
        const storage = await make();
        const locations = [mapping, reduce, hashed].map((f) => storage.addFlow(f));
        // "#" and "%" of a name are encoded in the location, so it parses back to the name.
        assert.ok(locations[2]!.endsWith("#Report%20%237%20at%20100%25"), locations[2]);
        await storage.build();
        const again = storageFromJSON(storage.toJSON());
        assert.equal(again.contains("Report #7 at 100%"), true);
        for (const [i, f] of [mapping, reduce, hashed].entries()) {
          const runner = await again.getRunner(locations[i]!);
          assert.equal(runner.flow.name, f.name);
          const run = await runner.run({});
          assert.equal(run.state.type, "Success", `${kind}: ${f.name}`);
        }
      });
    }
  });

  for (const dialect of ["sqlite", "postgres"] as const) {
    test(`a server on ${dialect}: register, run by name through an agent, run --remote, runs ls --flow`, {
      skip: dialect === "postgres" && POSTGRES_URL === undefined ? "no PostgreSQL" : false,
    }, async () => {
      const server = await startTestServer(dialect);
      try {
        const url = server.server.url;
        for (const f of [mapping, reduce, hashed]) await server.register(f);
        server.agent();
        const { run } = await server.api.createFlowRun({
          flowName: "Example: Mapping",
          parameters: { n: 10 },
        });
        const done = await server.waitFor(run.id);
        assert.equal(done.state.type, "Success", done.state.message);
        assert.equal(done.flowName, "Example: Mapping");

        const remote = await runCli([
          "run",
          "--remote",
          "Report #7 at 100%",
          "--wait",
          "--json",
          "--api",
          url,
        ]);
        assert.equal(remote.code, 0, explain(remote));
        assert.equal(JSON.parse(remote.stdout).flow, "Report #7 at 100%");
        // The slug of a registered flow's name works too.
        const bySlug = await runCli([
          "run",
          "--remote",
          "map-reduce",
          "--wait",
          "--json",
          "--api",
          url,
        ]);
        assert.equal(bySlug.code, 0, explain(bySlug));
        assert.equal(JSON.parse(bySlug.stdout).flow, "Map / Reduce 🤓");

        const listed = await runCli([
          "runs",
          "ls",
          "--flow",
          "Example: Mapping",
          "--api",
          url,
          "--json",
        ]);
        assert.equal(listed.code, 0, explain(listed));
        const items = JSON.parse(listed.stdout).items as { id: string }[];
        assert.deepEqual(
          items.map((r) => r.id),
          [run.id],
        );

        // A name in a query is percent-encoded ("#" and "%" too), and the API reads it back.
        const raw = await fetch(`${url}/api/flows?name=${encodeURIComponent("Report #7 at 100%")}`);
        const hashedFlows = (await raw.json()) as { items: { name: string }[] };
        assert.deepEqual(
          hashedFlows.items.map((f) => f.name),
          ["Report #7 at 100%"],
        );
        const flows = await server.api.listFlows({ name: "Map / Reduce 🤓" });
        assert.equal(flows.items.length, 1);
        assert.equal((await server.api.getFlow(flows.items[0]!.id)).name, "Map / Reduce 🤓");
      } finally {
        await server.close();
      }
    });
  }
});
