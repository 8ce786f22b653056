// `weft server start` as a real process (start-up refusals, the loop flags,
// SIGTERM); `weft token`, `weft flows`, `weft runs` and `weft run --remote` in
// process (test/support/cli.ts), against a real server on an ephemeral port:
// the `weft server start` child, or one started in this process.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { serializedFlow, st } from "../server/db/store-fixtures.ts";
import { runCli, startCli } from "../support/cli.ts";
import { assertCliError } from "../support/cli-result.ts";
import { isAlive, reapAll, runWeft, startWeft, type WeftProcess } from "../support/weft-process.ts";

const dirs: string[] = [];
after(() => {
  reapAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "weft-server-cli-"));
  dirs.push(dir);
  return dir;
}

/** Starts `weft server start` and resolves with the process and its port once it listens. */
async function serve(
  db: string,
  args: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<{ process: WeftProcess; port: number; url: string }> {
  const process = startWeft(["server", "start", "--db", db, "--port", "0", ...args], { env });
  await process.waitFor("weft server listening on ", { stream: "stderr" });
  const match = /listening on (http:\/\/\S+):(\d+) /.exec(process.stderr());
  assert.ok(match, process.stderr());
  return { process, port: Number(match[2]), url: `http://127.0.0.1:${match[2]}` };
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe("weft server start", { concurrency: true }, () => {
  test("refuses a non-loopback address until a token exists, then needs it on every request", async () => {
    const db = join(tempDir(), "weft.db");
    const refused = await runWeft([
      "server",
      "start",
      "--db",
      db,
      "--host",
      "0.0.0.0",
      "--port",
      "0",
    ]);
    assertCliError(refused, {
      code: "TOKEN_REQUIRED",
      says: ["0.0.0.0", "API token"],
      hint: "weft token create --name",
    });

    // Through the real binary: the secret alone on stdout is what scripts capture.
    const created = await runWeft([
      "token",
      "create",
      "--name",
      "admin",
      "--scope",
      "admin",
      "--db",
      db,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^\S{20,}$/, "only the secret on stdout");
    assert.match(created.stderr, /shown only now/);
    const listed = await runCli(["token", "ls", "--db", db, "--json"]);
    const tokens = JSON.parse(listed.stdout).items as { name: string; scopes: string[] }[];
    assert.deepEqual(
      tokens.map((t) => [t.name, t.scopes]),
      [["admin", ["admin"]]],
    );
    assert.ok(!listed.stdout.includes(secret), "token ls never shows a secret");

    const { process, url } = await serve(db, ["--host", "0.0.0.0"]);
    assert.match(process.stderr(), /every request needs an API token/);
    assertCliError(await runCli(["runs", "ls", "--api", url]), {
      code: "UNAUTHENTICATED",
      says: ["GET /api/flow-runs"],
    });
    const ok = await runCli(["runs", "ls", "--api", url, "--json"], {
      env: { WEFT_API_TOKEN: secret },
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { items: [] });

    const revoked = await runCli(["token", "revoke", "admin", "--db", db]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked token admin/);

    process.child.kill("SIGTERM");
    const end = await process.done;
    assert.equal(end.code, 0, end.stderr);
    assert.match(end.stderr, /weft server stopped/);
    assert.ok(!isAlive(process.pid));
  });

  test("weft token create refuses a name over the API's limit or with a NUL, before the database", async () => {
    // Checked before any database is opened, so SQLite shows it for PostgreSQL too (where such
    // a name failed inside the database, naming neither the flag nor the limit).
    for (const db of [join(tempDir(), "weft.db")]) {
      for (const [name, says] of [
        ["a".repeat(10_000), "at most 256 characters"],
        ["bad\0name", "NUL"],
      ] as const) {
        const refused = await runCli([
          "token",
          "create",
          "--name",
          name,
          "--scope",
          "read",
          "--db",
          db,
        ]);
        assertCliError(refused, { code: "USAGE", says: ["--name", says] });
      }
    }
  });

  test("checks registrations by the registries; module storage only with --allow-module-storage (or WEFT_ALLOW_MODULE_STORAGE=1)", async () => {
    const module = {
      type: "module",
      schemaVersion: 1,
      module: "/tmp/x.js",
      basedir: "/tmp",
      flows: {},
    };
    const flow = serializedFlow({ storage: module, location: "module#x" });
    const registering = async (url: string) =>
      createApiClient({ url })
        .registerFlow(flow)
        .then(
          () => "registered",
          (error: { code?: string }) => error.code,
        );
    // "0" is off: commander would turn the switch on for any value.
    const off = await serve(join(tempDir(), "weft.db"), [], { WEFT_ALLOW_MODULE_STORAGE: "0" });
    assert.equal(await registering(off.url), "MODULE_STORAGE_NOT_ALLOWED");
    const fields = serializedFlow({
      environment: { type: "subprocess", schemaVersion: 1, labels: [], execArgv: ["--inspect"] },
    });
    await assert.rejects(
      createApiClient({ url: off.url }).registerFlow(fields),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, "INVALID_SERIALIZED", String(error));
        assert.match(String((error as Error).message), /execArgv/);
        return true;
      },
    );
    const on = await serve(join(tempDir(), "weft.db"), [], { WEFT_ALLOW_MODULE_STORAGE: "1" });
    assert.equal(await registering(on.url), "registered");
    const flag = await serve(join(tempDir(), "weft.db"), ["--allow-module-storage"]);
    assert.equal(await registering(flag.url), "registered");
    for (const s of [off, on, flag]) s.process.child.kill("SIGTERM");
    await Promise.all([off, on, flag].map((s) => s.process.done));
  });

  test("the loop flags reach run health: a run whose heartbeats stop is failed", async () => {
    const { process, url } = await serve(join(tempDir(), "weft.db"), [
      "--loop-interval",
      "200",
      "--heartbeat-timeout",
      "1000",
      "--max-reschedules",
      "0",
    ]);
    try {
      const api = createApiClient({ url });
      const label = `health-${randomUUID()}`;
      await api.registerFlow(serializedFlow({ name: label, labels: [label] }));
      const { run } = await api.createFlowRun({ flowName: label });
      const agent = await api.registerAgent({ name: label, labels: [label] });
      const [claimed] = await api.claimFlowRuns(agent.id);
      assert.ok(claimed);
      await api.setFlowRunState(run.id, st("Running"), claimed.run.version);
      let state = (await api.getFlowRun(run.id)).state;
      for (let waited = 0; state.type === "Running" && waited < 20_000; waited += 200) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        state = (await api.getFlowRun(run.id)).state;
      }
      assert.equal(state.type, "Failed", JSON.stringify(state));
      assert.match(state.message ?? "", /heartbeat/i);
    } finally {
      process.child.kill("SIGTERM");
      await process.done;
    }
  });

  test("--agent-timeout reaches run health: a run claimed by an agent gone silent is freed", async () => {
    const { process, url } = await serve(join(tempDir(), "weft.db"), [
      "--loop-interval",
      "200",
      "--agent-timeout",
      "1000",
    ]);
    try {
      const api = createApiClient({ url });
      const label = `silent-${randomUUID()}`;
      await api.registerFlow(serializedFlow({ name: label, labels: [label] }));
      const { run } = await api.createFlowRun({ flowName: label });
      const agent = await api.registerAgent({ name: label, labels: [label] });
      const [claimed] = await api.claimFlowRuns(agent.id);
      assert.equal(claimed?.run.id, run.id);
      // The agent sends no heartbeat from now on.
      let state = (await api.getFlowRun(run.id)).state;
      for (let waited = 0; state.type === "Submitted" && waited < 20_000; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        state = (await api.getFlowRun(run.id)).state;
      }
      assert.equal(state.type, "Scheduled", JSON.stringify(state));
      assert.match(state.message ?? "", /stopped sending heartbeats/);
    } finally {
      process.child.kill("SIGTERM");
      await process.done;
    }
  });

  test("an unwritable SQLite path: one clear line, exit 2", async () => {
    const dir = tempDir();
    const file = join(dir, "not-a-directory");
    writeFileSync(file, "x");
    const db = join(file, "weft.db");
    const result = await runWeft(["server", "start", "--db", db, "--port", "0"]);
    assertCliError(result, { code: "DATABASE_UNAVAILABLE", says: [db] });
  });

  test("an unreachable PostgreSQL: one clear line, exit 2", async () => {
    const port = await closedPort();
    const result = await runWeft([
      "server",
      "start",
      "--db",
      `postgres://weft:hunter2@127.0.0.1:${port}/weft`,
      "--port",
      "0",
    ]);
    assertCliError(result, { code: "DATABASE_UNAVAILABLE", says: [`127.0.0.1:${port}`] });
    assert.ok(!result.stderr.includes("hunter2"), "the password is never printed");
  });
});

describe("weft flows, runs and run --remote against a live server", () => {
  let server: RunningServer | undefined;
  let api: ApiClient;
  const flow = serializedFlow({ labels: [`cli-${randomUUID()}`] });

  const live = async () => {
    if (server === undefined) {
      server = await startServer({ db: join(tempDir(), "weft.db"), port: 0 });
      api = createApiClient({ url: server.url });
      await api.registerFlow(flow);
    }
    return server;
  };
  after(async () => {
    await server?.close();
  });

  test("flows ls lists the registered flow", async () => {
    const { url } = await live();
    const plain = await runCli(["flows", "ls", "--api", url]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`^${flow.name}\\tv1\\t`, "m"));
    const json = JSON.parse((await runCli(["flows", "ls", "--api", url, "--json"])).stdout);
    assert.deepEqual(
      json.items.map((f: { name: string }) => f.name),
      [flow.name],
    );
  });

  test("runs ls, inspect (with why it waits), logs and cancel", async () => {
    const { url } = await live();
    const { run } = await api.createFlowRun({ flowName: flow.name, parameters: { x: 2 } });
    await api.ingestLogs([
      { level: "warn", message: "disk almost full", time: Date.now(), flowRunId: run.id },
    ]);

    const ls = await runCli(["runs", "ls", "--api", url, "--flow", flow.name]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, new RegExp(`^${run.id}\\t${flow.name} v1\\t.*\\tScheduled\\t`, "m"));

    const inspect = await runCli(["runs", "inspect", run.id, "--api", url]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /^state +Scheduled$/m);
    assert.match(inspect.stdout, /^waiting +no live agent carries labels/m);
    assert.match(inspect.stdout, /^parameters +\{"x":2\}$/m);
    const json = JSON.parse(
      (await runCli(["runs", "inspect", run.id, "--api", url, "--json"])).stdout,
    );
    assert.equal(json.id, run.id);
    assert.deepEqual(
      json.history.map((s: { type: string }) => s.type),
      ["Scheduled"],
    );

    const logs = await runCli(["runs", "logs", run.id, "--api", url]);
    assert.match(logs.stdout, /warn disk almost full/);

    assertCliError(await runCli(["runs", "inspect", randomUUID(), "--api", url]), {
      code: "FLOW_RUN_NOT_FOUND",
      says: ["does not exist"],
    });

    const cancel = await runCli(["runs", "cancel", run.id, "--api", url]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(cancel.stdout, `run ${run.id}: Cancelled\n`);
    assert.equal((await api.getFlowRun(run.id)).state.type, "Cancelled");
  });

  test("a client pointed at no server: API_UNREACHABLE naming the URL", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    assertCliError(await runCli(["runs", "ls", "--api", url]), {
      code: "API_UNREACHABLE",
      says: [url],
      hint: "weft server start",
    });
  });

  for (const [final, exit] of [
    ["Success", 0],
    ["Failed", 1],
  ] as const) {
    test(`run --remote --wait follows a run to ${final}: exit ${exit}`, async () => {
      const { url } = await live();
      const child = startCli([
        "run",
        "--remote",
        flow.name,
        "--param",
        "x=5",
        "--wait",
        "--api",
        url,
      ]);
      await child.waitForStderr("created flow run ");
      const id = /created flow run (\S+) /.exec(child.stderr())![1]!;
      const created = await api.getFlowRun(id);
      assert.deepEqual(created.parameters, { x: 5 }, "x parsed as the flow's number");
      const running = await api.setFlowRunState(id, st("Running"), created.version);
      await child.waitForStderr(" Running");
      await api.setTaskRunStates([
        {
          flowRunId: id,
          slug: "inc-1",
          state: st(final, new Date(), { message: "done" }),
          version: 0,
        },
      ]);
      await api.setFlowRunState(id, st(final), running.version);
      const end = await child.done;
      assert.equal(end.code, exit, end.stderr);
      assert.match(end.stderr, new RegExp(` ${final}\\n`));
      assert.match(end.stdout, new RegExp(`^inc-1 +${final} +done$`, "m"), "no 0 attempts");
    });
  }

  test("run --remote without --wait prints the new run's id; an unknown flow is FLOW_NOT_FOUND", async () => {
    const { url } = await live();
    const result = await runCli(["run", "--remote", flow.name, "--api", url]);
    assert.equal(result.code, 0, result.stderr);
    const id = result.stdout.trim();
    assert.equal((await api.getFlowRun(id)).state.type, "Scheduled");
    await api.cancelFlowRun(id);

    assertCliError(await runCli(["run", "--remote", `nope-${randomUUID()}`, "--api", url]), {
      code: "FLOW_NOT_FOUND",
      says: ["nope-"],
      hint: "weft register",
    });
    assertCliError(await runCli(["run", "--remote", flow.name, "--param", "y=1", "--api", url]), {
      code: "UNKNOWN_PARAMETER",
      says: ['"y"'],
    });
  });
});
