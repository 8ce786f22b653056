// `weft limits set | list | delete` against a real server, in process through runCli.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../agent/agent-server.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";

describe("weft limits", () => {
  let s: TestServer | undefined;
  after(() => s?.close());

  it("sets, lists and deletes a limit; --json prints the records; a bad n is usage", async () => {
    s = await startTestServer("sqlite", { scheduler: false, runHealth: false });
    const api = ["--api", s.server.url];
    const set = await runCli(["limits", "set", "database", "2", ...api]);
    assert.equal(set.code, 0, explain(set));
    assert.equal(set.stdout, 'concurrency limit "database": 2 slot(s), 0 taken\n');
    await runCli(["limits", "set", "gpu", "0", ...api]);

    const list = await runCli(["limits", "list", ...api]);
    assert.equal(list.code, 0, explain(list));
    assert.match(list.stdout, /^database\t2\t0\t\S+$/m);
    assert.match(list.stdout, /^gpu\t0\t0\t\S+$/m);
    const json = await runCli(["limits", "ls", "--json", ...api]);
    const items = JSON.parse(json.stdout).items as { tag: string; limit: number }[];
    assert.deepEqual(
      items.map((l) => [l.tag, l.limit]),
      [
        ["database", 2],
        ["gpu", 0],
      ],
    );

    const bad = await runCli(["limits", "set", "database", "-1", ...api]);
    assert.equal(bad.code, 2, explain(bad));
    assert.match(bad.stderr, /expected a whole number of slots/);

    const deleted = await runCli(["limits", "delete", "gpu", ...api]);
    assert.equal(deleted.code, 0, explain(deleted));
    assert.equal(deleted.stdout, 'deleted concurrency limit "gpu": 0 slot(s), 0 taken\n');
    const again = await runCli(["limits", "delete", "gpu", ...api]);
    assert.equal(again.code, 2, explain(again));
    assert.match(again.stderr, /no concurrency limit is set for tag "gpu" \(LIMIT_NOT_FOUND\)/);
  });
});
