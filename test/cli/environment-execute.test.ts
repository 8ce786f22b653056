// `weft execute` as the subprocess environment drives it: everything through
// WEFT_* variables, events as JSON lines on WEFT_EVENTS_FD, exit 0/1/2 for
// success/failure/bad input, and WEFT_EXIT_WITH_PARENT stopping the process
// tree when stdin closes: real processes. Refusals of malformed variables are
// the command's logic and run in process (test/support/cli.ts), except where a
// descriptor of the process is what is checked. (Missing or malformed
// WEFT_STORAGE, WEFT_PARAMETERS and locations are also covered by
// test/cli/storage-commands.test.ts.)
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Flow } from "../../src/core/flow.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { readJson } from "../environments/environment-helpers.ts";
import {
  failFlow,
  type GreetReport,
  greetFlow,
  napFlow,
} from "../fixtures/environments/env-flows.ts";
import { runCli } from "../support/cli.ts";
import type { CliResult } from "../support/cli-result.ts";
import {
  assertGone,
  readPids,
  reapAll,
  startWeft,
  trackPids,
  type WeftProcess,
} from "../support/weft-process.ts";

const TIMEOUT_MS = 120_000;
/** Parameters of the greet flow that keep it off the console: in process, that is the test report. */
const QUIET = JSON.stringify({ echo: false });

interface ExecuteResult extends CliResult {
  /** Lines read from descriptor 3, when it was a pipe. */
  readonly events: string[];
}

interface ExecuteProcess {
  readonly process: WeftProcess;
  readonly pid: number;
  readonly done: Promise<ExecuteResult>;
}

/** Every WEFT_* variable of this environment unset (WEFT_HOME included), then `vars`. */
function onlyThese(vars: Record<string, string | undefined>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of Object.keys(process.env)) if (name.startsWith("WEFT_")) env[name] = undefined;
  return { ...env, ...vars };
}

/** Starts `node bin/weft.js execute` with exactly these WEFT_* variables (and WEFT_HOME). */
function startExecute(
  vars: Record<string, string | undefined>,
  options: { fd3?: boolean; stdin?: "pipe" | "ignore"; detached?: boolean } = {},
): ExecuteProcess {
  const child = startWeft(["execute"], {
    env: onlyThese(vars),
    timeoutMs: TIMEOUT_MS,
    fd3: options.fd3 ?? false,
    stdin: options.stdin ?? "ignore",
    detached: options.detached ?? false,
  });
  trackPids([child.pid]);
  const done = child.done.then((result) => ({
    ...result,
    events: child
      .fd3()
      .split("\n")
      .filter((l) => l !== ""),
  }));
  return { process: child, pid: child.pid, done };
}

/** Runs `weft execute` in process with exactly these WEFT_* variables. */
async function executeHere(vars: Record<string, string | undefined>): Promise<ExecuteResult> {
  return { ...(await runCli(["execute"], { env: onlyThese(vars) })), events: [] };
}

const explain = (r: ExecuteResult) =>
  `exit ${r.code} ${r.signal ?? ""}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nevents:\n${r.events.join("\n")}`;

/** The one error line of a refusal, checked to end with the code and to name `variable`. */
function assertRefused(result: ExecuteResult, variable: string, code = "ENV_VAR_INVALID"): string {
  assert.equal(result.code, 2, explain(result));
  const errors = result.stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, explain(result));
  const line = errors[0]!;
  assert.ok(line.endsWith(`(${code})`), line);
  assert.ok(line.includes(variable), `names ${variable}: ${line}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  return line;
}

describe("weft execute, as environments drive it", { concurrency: true }, () => {
  let tmp = "";
  let storage: Storage;
  const locations = new Map<Flow<unknown>, string>();

  /** The variables of a run of `flow`, with its own WEFT_HOME. */
  const varsFor = (flow: Flow<unknown>, extra: Record<string, string | undefined> = {}) => ({
    WEFT_FLOW_LOCATION: locations.get(flow)!,
    WEFT_STORAGE: JSON.stringify(storage.toJSON()),
    WEFT_FLOW_RUN_ID: "run-from-env",
    WEFT_HOME: join(tmp, "home"),
    ...extra,
  });

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "weft-env-execute-"));
    storage = createLocalStorage({
      directory: join(tmp, "flows"),
      cacheDir: join(tmp, "cache"),
      hostnameLabel: false,
    });
    for (const flow of [greetFlow, failFlow, napFlow]) locations.set(flow, storage.addFlow(flow));
    await storage.build();
  });
  after(async () => {
    reapAll();
    await rm(tmp, { recursive: true, force: true });
  });

  test("events go to WEFT_EVENTS_FD as JSON lines; console output stays on stdout; exit 0", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const out = join(tmp, "events.json");
    const result = await startExecute(
      varsFor(greetFlow, {
        WEFT_EVENTS_FD: "3",
        WEFT_PARAMETERS: JSON.stringify({ name: "fd3", out }),
      }),
      { fd3: true },
    ).done;
    assert.equal(result.code, 0, explain(result));
    const events = result.events.map((line) => JSON.parse(line) as Record<string, unknown>);
    const flows = events
      .filter((e) => e.event === "flow")
      .map((e) => (e.state as { type: string }).type);
    assert.equal(flows[0], "Running");
    assert.equal(flows.at(-1), "Success");
    const greet = events.filter((e) => e.event === "task" && e.slug === "greet-1");
    assert.deepEqual(
      greet.map((e) => (e.state as { type: string }).type),
      ["Running", "Success"],
    );
    const log = events.find((e) => e.event === "log") as
      | { record: { message: string; flowRunId: string; taskSlug: string } }
      | undefined;
    assert.equal(log?.record.message, "greeting fd3");
    assert.equal(log?.record.flowRunId, "run-from-env", "WEFT_FLOW_RUN_ID is the run's id");
    assert.equal(log?.record.taskSlug, "greet-1");
    assert.ok(
      events.every((e) => !("result" in ((e.state as object | undefined) ?? {}))),
      "results stay in the flow-run process",
    );
    assert.match(result.stdout, /stdout says hello to fd3/);
    assert.doesNotMatch(result.stderr, /task greet-1/, "no progress lines with an event channel");
    assert.equal((await readJson<GreetReport>(out))?.greeting, "hello, fd3");
  });

  test("a failed flow exits 1 and its final event says Failed", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const result = await startExecute(varsFor(failFlow, { WEFT_EVENTS_FD: "3" }), { fd3: true })
      .done;
    assert.equal(result.code, 1, explain(result));
    const last = JSON.parse(result.events.at(-1) ?? "{}") as {
      event?: string;
      state?: { type: string };
    };
    assert.equal(last.event, "flow");
    assert.equal(last.state?.type, "Failed");
  });

  test("wrong parameter values are bad input: exit 2", { timeout: TIMEOUT_MS }, async () => {
    const result = await executeHere(
      varsFor(napFlow, { WEFT_PARAMETERS: JSON.stringify({ ms: "soon" }) }),
    );
    assert.equal(result.code, 2, explain(result));
    assert.match(result.stderr, /ms/);
  });

  test("WEFT_EXECUTOR picks the executor (worker-threads runs the task off the main thread)", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const out = join(tmp, "executor.json");
    const result = await startExecute(
      varsFor(greetFlow, {
        WEFT_EXECUTOR: JSON.stringify({ type: "worker-threads", maxWorkers: 1 }),
        WEFT_PARAMETERS: JSON.stringify({ name: "thread", out, echo: false }),
      }),
    ).done;
    assert.equal(result.code, 0, explain(result));
    assert.ok(((await readJson<GreetReport>(out))?.threadId ?? 0) > 0, "a worker thread");
  });

  test("a missing required WEFT_* variable exits 2 naming it", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const missing = ["WEFT_FLOW_LOCATION", "WEFT_STORAGE"];
    const results = await Promise.all(
      missing.map((name) =>
        executeHere(varsFor(greetFlow, { [name]: undefined, WEFT_PARAMETERS: QUIET })),
      ),
    );
    missing.forEach((name, i) => {
      const line = assertRefused(results[i]!, name);
      assert.match(line, /is not set/);
    });
  });

  test("a malformed WEFT_* variable exits 2 naming it", { timeout: TIMEOUT_MS }, async () => {
    const cases: [string, string][] = [
      ["WEFT_STORAGE", "{not json"],
      ["WEFT_PARAMETERS", "[1, 2]"],
      ["WEFT_PARAMETERS", "{"],
      ["WEFT_EXECUTOR", "gpu"],
      ["WEFT_EXECUTOR", '{"type":"worker-threads","maxWorkers":0}'],
      ["WEFT_EXECUTOR", '{"type":'],
      ["WEFT_EVENTS_FD", "three"],
      ["WEFT_EVENTS_FD", "1"],
      ["WEFT_EVENTS_FD", "-3"],
    ];
    const results = await Promise.all(
      cases.map(([name, value]) =>
        executeHere(varsFor(greetFlow, { WEFT_PARAMETERS: QUIET, [name]: value })),
      ),
    );
    cases.forEach(([name, value], i) => {
      const result = results[i]!;
      assert.equal(result.code, 2, `${name}=${value}\n${explain(result)}`);
      assertRefused(result, name);
    });
  });

  test("WEFT_EVENTS_FD naming a descriptor that is not open exits 2 naming it", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const result = await startExecute(varsFor(greetFlow, { WEFT_EVENTS_FD: "9" })).done;
    assertRefused(result, "WEFT_EVENTS_FD");
  });

  test("WEFT_EXIT_WITH_PARENT set to anything but 1 (or empty) exits 2 naming it", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const result = await executeHere(
      varsFor(greetFlow, { WEFT_EXIT_WITH_PARENT: "true", WEFT_PARAMETERS: QUIET }),
    );
    assertRefused(result, "WEFT_EXIT_WITH_PARENT");
  });

  /** Runs the nap flow (with a grandchild) under WEFT_EXIT_WITH_PARENT=1, closes its stdin, and checks that its tree is gone. */
  const exitWithParent = async (label: string, detached: boolean) => {
    const pidFile = join(tmp, `${label}.pids`);
    const execute = startExecute(
      varsFor(napFlow, {
        WEFT_EXIT_WITH_PARENT: "1",
        WEFT_PARAMETERS: JSON.stringify({ ms: 60_000, pidFile, grandchild: true }),
      }),
      { stdin: "pipe", detached },
    );
    const pids = await readPids(pidFile, 2);
    assert.equal(pids[0], execute.pid, "the task runs in the execute process");
    execute.process.child.stdin!.end();
    const result = await execute.done;
    assert.notEqual(result.code, 0, explain(result));
    await assertGone(pids, "the execute process and its grandchild");
  };

  test("WEFT_EXIT_WITH_PARENT=1: when stdin closes, the process and its tree stop", {
    timeout: TIMEOUT_MS,
  }, async () => {
    // As the subprocess environment starts it: the leader of its own process group.
    await exitWithParent("exit-with-parent-leader", true);
  });

  test("WEFT_EXIT_WITH_PARENT=1 stops the tree even when started inside its parent's process group", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await exitWithParent("exit-with-parent-member", false);
  });

  test("SIGTERM cancels the run: the final event says Cancelled and the exit code is 130", {
    timeout: TIMEOUT_MS,
  }, async () => {
    const pidFile = join(tmp, "sigterm.pids");
    const execute = startExecute(
      varsFor(napFlow, {
        WEFT_EVENTS_FD: "3",
        WEFT_PARAMETERS: JSON.stringify({ ms: 60_000, pidFile }),
      }),
      { fd3: true },
    );
    await readPids(pidFile, 1);
    process.kill(execute.pid, "SIGTERM");
    const result = await execute.done;
    assert.equal(result.code, 130, explain(result));
    const last = JSON.parse(result.events.at(-1) ?? "{}") as { state?: { type: string } };
    assert.equal(last.state?.type, "Cancelled");
  });
});
