// The orchestrator end to end (issue 6), as a user drives it: one `weft up` (its
// server, scheduler, run health and local agent in one process, on an ephemeral
// port, SQLite under a temp WEFT_HOME), `weft register`, `weft run --remote`,
// `weft runs inspect` and `weft agent start` as real processes; what happened is
// read back from the database through the API client. Tests share the server and
// run concurrently; each registers flows of its own name.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { openServerDb } from "../../src/server/db/open-server-db.ts";
import { type S3TestServer, startS3TestServer } from "../storage/s3-server.ts";
import { runCli } from "../support/cli.ts";
import { assertCliError, explain } from "../support/cli-result.ts";
import { describeOutput, isAlive, runWeft, stopAll } from "../support/weft-process.ts";
import {
  delay,
  e2eFixtures,
  logMessages,
  type Registered,
  register,
  removeTempDirs,
  type ServerProcess,
  startAgentProcess,
  startUp,
  summarize,
  taskStates,
  tempDir,
  waitForRun,
} from "./e2e-process.ts";

const flows = `${e2eFixtures}/e2e-flows.ts`;
const remoteFlows = `${e2eFixtures}/remote-flow.ts`;
const host = hostname();

/** Extra label of the `weft up` agent: the s3 flow of test 2 asks for it (see test 6). */
const S3_LABEL = "e2e-s3";

let s3: S3TestServer;
let home: string;
let up: ServerProcess;
let awsEnv: Record<string, string>;

/** Lines of `<dir>/<file>`, none when it does not exist. */
function lines(dir: string, file: string): string[] {
  const path = join(dir, file);
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

/** Polls `check` every 50 ms until it holds, failing after `timeoutMs` with `what`. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms${describeOutput(up)}`);
    await delay(50);
  }
}

/** The chain fixture's task runs once it succeeded (parameters are task runs too). */
const CHAIN_SUCCESS = {
  dir: "Success",
  "extract-1": "Success",
  "double-1": "Mapped",
  "double-1[0]": "Success",
  "double-1[1]": "Success",
  "double-1[2]": "Success",
  "load-1": "Success",
};

before(async () => {
  s3 = await startS3TestServer();
  awsEnv = {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: "us-east-1",
  };
  home = tempDir("up");
  up = await startUp({
    home,
    env: awsEnv,
    labels: [S3_LABEL],
    concurrency: 8,
    // Run health acts on a run unheard for 4 s; a claimed run has 30 s to start
    // (a subprocess run's child takes seconds to boot on a busy machine).
    heartbeatIntervalMs: 250,
    loops: { loopIntervalMs: 250, heartbeatTimeoutMs: 4000, submittedTimeoutMs: 30_000 },
  });
});

after(async () => {
  await stopAll();
  await s3?.close();
  removeTempDirs();
});

describe("weft up end to end (SQLite)", { concurrency: true }, () => {
  test("1. register → run --remote → the local agent runs it; every task state and log line is in the database", async () => {
    const dir = tempDir("chain");
    // Through the real binary, as a user registers.
    const registering = await runWeft(
      ["register", flows, "--flow", "e2e-chain", "--api", up.url, "--json"],
      { env: { WEFT_HOME: home } },
    );
    assert.equal(registering.code, 0, explain(registering));
    const registered = JSON.parse(registering.stdout) as Registered;
    const flow = registered.flows[0]!;
    assert.equal(flow.name, "e2e-chain");
    assert.equal(flow.created, true);
    assert.deepEqual(flow.labels, [host], "local storage labels the flow with the hostname");

    const result = await runWeft(
      ["run", "--remote", "e2e-chain", "--wait", "--param", `dir=${dir}`, "--api", up.url],
      { env: { WEFT_HOME: home } },
    );
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}${describeOutput(up)}`);
    const id = result.stderr.match(/created flow run (\S+)/)?.[1];
    assert.ok(id, `the run's id on stderr:\n${result.stderr}`);

    const run = await up.api.getFlowRun(id);
    assert.equal(run.state.type, "Success", summarize(run));
    assert.deepEqual(taskStates(run), CHAIN_SUCCESS);
    assert.ok(
      run.taskRuns.every((t) => t.startTime !== undefined && t.endTime !== undefined),
      "every task run has its start and end time",
    );
    assert.deepEqual(
      run.history.map((s) => s.type),
      ["Scheduled", "Submitted", "Running", "Success"],
    );
    const agents = await up.api.listAgents();
    assert.equal(agents.find((a) => a.id === run.agentId)?.name, `local-${host}`);
    // The local environment runs the flow inside the agent's process: `weft up` itself.
    assert.deepEqual(lines(dir, "extract.runs"), [`${id} ${up.pid}`]);
    assert.deepEqual(lines(dir, "load.runs"), [`${id} ${up.pid}`]);
    const logs = await logMessages(up.api, id);
    assert.ok(logs.includes("extract: read 3 rows"), logs.join("\n"));
    assert.ok(logs.includes("load: total 12"), logs.join("\n"));
  });

  test("2a. the subprocess environment with local storage: a `weft execute` child runs it, its states come back over the pipe", async () => {
    const dir = tempDir("subprocess");
    const registered = await register(
      flows,
      ["--flow", "e2e-chain-subprocess", "--environment", "subprocess"],
      { api: up.url, home },
    );
    const flow = registered.flows[0]!;
    const { run } = await up.api.createFlowRun({ flowId: flow.id, parameters: { dir } });
    const done = await waitForRun(up.api, run.id, { processes: [up] });
    assert.equal(done.state.type, "Success", summarize(done));
    assert.deepEqual(taskStates(done), CHAIN_SUCCESS);
    const [extract] = lines(dir, "extract.runs");
    const pid = Number(extract?.split(" ")[1]);
    assert.ok(pid > 0 && pid !== up.pid, `a child process ran the tasks, not weft up: ${extract}`);
    assert.deepEqual(lines(dir, "load.runs"), [`${run.id} ${pid}`]);
    const logs = await logMessages(up.api, run.id);
    assert.ok(logs.includes("extract: read 3 rows"), logs.join("\n"));
    assert.ok(logs.includes("load: total 12"), logs.join("\n"));
  });

  test("2b. the subprocess environment with s3 storage: the bundle reaches the agent only through the bucket", async () => {
    const bucket = await s3.createBucket("weft-e2e");
    // Registered from another weft home: its bundle cache is not the agent's, so
    // the agent must download the code from the bucket.
    const author = tempDir("author");
    const registered = await register(
      remoteFlows,
      [
        "--flow",
        "e2e-remote",
        "--environment",
        "subprocess",
        "--labels",
        S3_LABEL,
        "--storage",
        "s3",
        "--bucket",
        bucket,
        "--prefix",
        "flows",
        "--endpoint",
        s3.endpoint,
        "--path-style",
      ],
      { api: up.url, home: author, env: awsEnv },
    );
    const flow = registered.flows[0]!;
    assert.deepEqual(flow.labels, [S3_LABEL], "s3 storage adds no hostname label");
    const artifact = flow.location!.split("#")[0]!;
    assert.ok(await s3.hasObject(bucket, `flows/${artifact}`), "the bundle is in the bucket");
    assert.ok(!existsSync(join(home, "cache", artifact)), "the agent has not seen the bundle yet");

    const { run } = await up.api.createFlowRun({ flowId: flow.id, parameters: { who: "bucket" } });
    const done = await waitForRun(up.api, run.id, { processes: [up] });
    assert.equal(done.state.type, "Success", summarize(done));
    assert.deepEqual(taskStates(done), {
      who: "Success",
      "hello-1": "Success",
      "shout-1": "Success",
    });
    assert.ok((await logMessages(up.api, run.id)).includes("hello, bucket"));
  });

  test("3. a flow scheduled every 2 seconds gets at least two runs that complete", async () => {
    const registered = await register(`${e2eFixtures}/scheduled-flow.ts`, [], {
      api: up.url,
      home,
    });
    const flow = registered.flows[0]!;
    let done: Awaited<ReturnType<typeof up.api.listFlowRuns>>["items"] = [];
    await until(
      async () => {
        done = (await up.api.listFlowRuns({ flowId: flow.id, state: "Success" })).items;
        return done.length >= 2;
      },
      "two scheduled runs of e2e-every-2s succeed",
      60_000,
    );
    assert.ok(
      done.every((r) => r.autoScheduled),
      "the scheduler made them",
    );
    const starts = done.map((r) => Date.parse(r.scheduledStart)).sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) {
      const gap = starts[i]! - starts[i - 1]!;
      assert.ok(
        gap >= 2000 && gap % 2000 === 0,
        `runs 2 s apart: ${done.map((r) => r.scheduledStart)}`,
      );
    }
  });

  test("4. kill -9 of the flow-run child mid-run: run health reschedules it, and the new run does not re-run succeeded tasks", async () => {
    const dir = tempDir("crash");
    const registered = await register(
      flows,
      ["--flow", "e2e-gated", "--environment", "subprocess"],
      { api: up.url, home },
    );
    const { run } = await up.api.createFlowRun({
      flowId: registered.flows[0]!.id,
      parameters: { dir },
    });
    // Kill only once the server holds first and second as succeeded (and their
    // results are persisted): the restarted run must find them.
    await until(() => lines(dir, "gate.pids").length === 1, "the gate task starts");
    await waitForRun(up.api, run.id, {
      until: (r) => {
        const states = taskStates(r);
        return states["first-1"] === "Success" && states["second-1"] === "Success";
      },
      what: "first and second recorded as Success",
      timeoutMs: 30_000,
      processes: [up],
    });
    const pid = Number(lines(dir, "gate.pids")[0]);
    assert.notEqual(pid, up.pid, "the task runs in a child, not in weft up");
    process.kill(pid, "SIGKILL");
    await until(() => !isAlive(pid), "the killed child is gone");
    writeFileSync(join(dir, "open"), "");

    const done = await waitForRun(up.api, run.id, { timeoutMs: 45_000, processes: [up] });
    assert.equal(done.state.type, "Success", summarize(done));
    assert.ok(done.rescheduleCount >= 1, `run health rescheduled it: ${summarize(done)}`);
    assert.ok(done.claimCount >= 2, "an agent claimed it again");
    const types = done.history.map((s) => s.type);
    assert.ok(
      types.indexOf("Scheduled", types.indexOf("Running")) > 0,
      `Running → Scheduled in the history: ${types.join(" → ")}`,
    );
    assert.equal(lines(dir, "first.runs").length, 1, "first ran once");
    assert.equal(lines(dir, "second.runs").length, 1, "second ran once");
    assert.equal(lines(dir, "gate.runs").length, 2, "gate ran in both processes");
    assert.equal(lines(dir, "last.runs").length, 1, "last ran in the new process");
    const pids = lines(dir, "gate.pids");
    assert.notEqual(pids[0], pids[1], "the new run is another process");
    assert.deepEqual(taskStates(done), {
      dir: "Success",
      "first-1": "Success",
      "second-1": "Success",
      "gate-1": "Success",
      "last-1": "Success",
    });
  });

  test("6. an agent without the flow's labels never claims it, and `runs inspect` says why", async () => {
    const bucket = await s3.createBucket("weft-e2e-labels");
    const label = `gpu-${randomUUID().slice(0, 8)}`;
    const agentHome = tempDir("agents");
    // Neither agent carries the hostname: they must not take the other tests' runs.
    const lonely = await startAgentProcess({
      home: agentHome,
      api: up.url,
      name: `lonely-${label}`,
      labels: ["cpu"],
      noHostnameLabel: true,
      heartbeatIntervalMs: 250,
    });
    const registered = await register(
      remoteFlows,
      [
        "--flow",
        "e2e-remote-labelled",
        "--labels",
        label,
        "--storage",
        "s3",
        "--bucket",
        bucket,
        "--endpoint",
        s3.endpoint,
        "--path-style",
      ],
      { api: up.url, home: tempDir("author"), env: awsEnv },
    );
    const flow = registered.flows[0]!;
    assert.deepEqual(flow.labels, [label]);
    const { run } = await up.api.createFlowRun({ flowId: flow.id });

    // Both agents poll claims the whole time; give them a few rounds.
    await delay(2000);
    const waiting = await up.api.getFlowRun(run.id);
    assert.equal(waiting.state.type, "Scheduled", summarize(waiting));
    assert.equal(waiting.claimCount, 0);
    assert.equal(waiting.agentId, undefined);
    assert.ok(
      !lonely.stderr().includes(run.id),
      `the lonely agent never saw it${describeOutput(lonely)}`,
    );

    const inspect = await runWeft(["runs", "inspect", run.id, "--api", up.url], {
      env: { WEFT_HOME: home },
    });
    assert.equal(inspect.code, 0, inspect.stderr);
    const reason = inspect.stdout.split("\n").find((l) => l.startsWith("waiting"));
    assert.ok(reason, `runs inspect says why it waits:\n${inspect.stdout}`);
    assert.match(reason, new RegExp(`no live agent carries labels \\[${label}\\]`));
    assert.ok(reason.includes(`lonely-${label} [cpu]`), reason);

    // The control: an agent with the label takes it at once.
    const gpu = await startAgentProcess({
      home: agentHome,
      api: up.url,
      name: `gpu-${label}`,
      labels: [label],
      noHostnameLabel: true,
      heartbeatIntervalMs: 250,
      env: awsEnv,
    });
    const done = await waitForRun(up.api, run.id, { processes: [gpu, lonely] });
    assert.equal(done.state.type, "Success", summarize(done));
    const agents = await up.api.listAgents();
    assert.equal(agents.find((a) => a.id === done.agentId)?.name, `gpu-${label}`);
    assert.ok(!lonely.stderr().includes(run.id), "the lonely agent never claimed it");
    await Promise.all([gpu.stop(), lonely.stop()]);
  });

  describe("bad input", { concurrency: true }, () => {
    test("registering a flow whose environment cannot use its storage is refused, and nothing is registered", async () => {
      const result = await runCli(
        [
          "register",
          flows,
          "--flow",
          "e2e-chain-unshareable",
          "--storage",
          "memory",
          "--environment",
          "subprocess",
          "--api",
          up.url,
        ],
        { env: { WEFT_HOME: home } },
      );
      assertCliError(result, {
        exit: 2,
        code: "STORAGE_NOT_SHAREABLE",
        says: ["flow e2e-chain-unshareable", "the subprocess environment", "memory storage"],
      });
      const listed = await up.api.listFlows({ name: "e2e-chain-unshareable", archived: "all" });
      assert.deepEqual(listed.items, []);
    });

    test("a stored flow with an unknown storage type: its run fails with that message and the agent keeps running", async () => {
      const registered = await register(flows, ["--flow", "e2e-chain-unknown-storage"], {
        api: up.url,
        home,
      });
      const good = registered.flows[0]!;
      const detail = await up.api.getFlow(good.id);
      const unknown = { ...detail.flow, storage: { type: "e2e-nosuch", schemaVersion: 1 } };
      // Registration refuses it, naming the type and the known ones…
      await assert.rejects(up.api.registerFlow(unknown), (error: unknown) => {
        assert.equal((error as { code?: string }).code, "UNKNOWN_TYPE", String(error));
        assert.match((error as Error).message, /"e2e-nosuch" \(known: .*local/);
        return true;
      });
      // …so it stands for a flow stored before registration checked storages: straight into the database.
      const store = await openServerDb({ db: join(home, "weft.db") });
      const { flow: bad } = await store.flows
        .register(unknown, `e2e-unknown-storage-${randomUUID()}`)
        .finally(() => store.close());
      const { run } = await up.api.createFlowRun({ flowId: bad.id });
      const failed = await waitForRun(up.api, run.id, { processes: [up] });
      assert.equal(failed.state.type, "Failed", summarize(failed));
      assert.match(failed.state.message ?? "", /e2e-nosuch/);
      assert.match(failed.state.message ?? "", /storage/);
      assert.ok(up.running, "weft up is still running");

      const again = await up.api.createFlowRun({ flowId: good.id });
      const done = await waitForRun(up.api, again.run.id, { processes: [up] });
      assert.equal(done.state.type, "Success", `the agent still runs flows: ${summarize(done)}`);
    });

    test("a run whose bundle has vanished from storage fails, naming the bundle", async () => {
      const storeDir = tempDir("vanishing");
      // Registered from another weft home, so no bundle cache of the agent's holds it.
      const registered = await register(
        `${e2eFixtures}/vanishing-flow.ts`,
        ["--storage", "local", "--dir", storeDir],
        { api: up.url, home: tempDir("author") },
      );
      const flow = registered.flows[0]!;
      const artifact = flow.location!.split("#")[0]!;
      assert.ok(existsSync(join(storeDir, artifact)));
      for (const file of readdirSync(storeDir)) rmSync(join(storeDir, file));

      const { run } = await up.api.createFlowRun({ flowId: flow.id });
      const failed = await waitForRun(up.api, run.id, { processes: [up] });
      assert.equal(failed.state.type, "Failed", summarize(failed));
      assert.ok(
        failed.state.message?.includes(artifact),
        `names ${artifact}: ${failed.state.message}`,
      );
      assert.ok(
        failed.state.message?.includes(storeDir),
        `names ${storeDir}: ${failed.state.message}`,
      );
      assert.ok(up.running, "weft up is still running");
    });
  });
});
