// The environment conformance suite: one set of cases that every environment
// kind must pass, run by each kind's own test file (as Hono's router tests do):
//
//   runEnvironmentConformance("subprocess", {
//     makeEnvironment: (options) => createSubprocessEnvironment(options),
//     makeStorage: ({ tmp }) => createLocalStorage({ directory: join(tmp, "flows"), … }),
//     unfitStorage: () => createMemoryStorage(),
//   });
//
// A kind that cannot pass a case skips it by name with its reason
// (`skip: { [case name]: reason }`); node:test prints the reason with the skip.
// Every case gets a fresh temporary directory, and every execution passes
// `env: { WEFT_HOME }` inside it, so that a flow-run process never touches
// ~/.weft nor another case's bundle cache.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExecutorSpec } from "../../src/core/executor-spec.ts";
import type { Flow } from "../../src/core/flow.ts";
import type { State } from "../../src/core/states.ts";
import type {
  Environment,
  EnvironmentHooks,
  ExecuteContext,
  ExecuteResult,
} from "../../src/environments/environment.ts";
import { environmentFromJSON } from "../../src/environments/registry.ts";
import { STORAGE_NEEDS } from "../../src/serialization/deployment.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import {
  failFlow,
  type GreetReport,
  greetFlow,
  napFlow,
} from "../fixtures/environments/env-flows.ts";
import { readPids, reapAll } from "../support/weft-process.ts";
import { expectCode, RecordingLogger, readJson, type TestDirs } from "./environment-helpers.ts";

/** What the suite asks of `makeEnvironment`: the options every kind takes. */
export interface EnvironmentFactoryOptions extends EnvironmentHooks {
  executor?: ExecutorSpec;
  labels?: string[];
}

/** How one kind is run through the suite. */
export interface EnvironmentConformanceOptions {
  /** A new environment of the kind with these options. */
  makeEnvironment(options: EnvironmentFactoryOptions, dirs: TestDirs): Environment;
  /** A storage the kind can use, with its files under `dirs.tmp`. */
  makeStorage(dirs: TestDirs): Storage;
  /** A storage the kind must refuse; omitted when it takes every storage. */
  unfitStorage?(dirs: TestDirs): Storage;
  /** Case name → why this kind skips it (printed by the test runner). */
  skip?: Readonly<Partial<Record<EnvironmentConformanceCase, string>>>;
  /** How many cases run at once (a flow-run process costs a second of CPU to start). @default 2 */
  concurrency?: number;
}

/** Every case of the suite, by the name that `skip` uses. */
export const ENVIRONMENT_CONFORMANCE_CASES = [
  "type is the kind, labels are strings and storageNeeds is a known need",
  "toJSON() round-trips through environmentFromJSON, without the hooks",
  "an environment rebuilt from JSON executes the flow",
  "setup accepts a storage that fits",
  "an unfit storage is refused by setup, execute and flow.serialize, naming both",
  "execute resolves with Success and the parameters reach the flow",
  "a failing task makes the run Failed, and the reporter hears the task's error",
  "the reporter hears every task by slug, Running before Success, then the flow's final state",
  "logs from context().logger reach reporter.log with the run id and the task slug",
  "cancelling through ctx.signal ends the run Cancelled",
  "an already-aborted signal ends the run Cancelled without running the flow",
  "a failing onStart fails the run with 'onStart hook failed' and the flow never starts",
  "a failing onStart is reported with the run's id and the flow's name",
  "onExit is called once with the final state, on success and on failure",
  "a throwing onExit leaves the state as it was and is logged",
  "the executor option reaches the tasks (worker-threads runs them off the main thread)",
  "two runs execute at once, each with its own run id",
  "teardown is idempotent",
  "a run whose flow cannot be loaded: the reporter hears one final state, the one execute resolves with",
] as const;
/** One of {@link ENVIRONMENT_CONFORMANCE_CASES}. */
export type EnvironmentConformanceCase = (typeof ENVIRONMENT_CONFORMANCE_CASES)[number];

/** Generous: a flow-run process takes seconds to start on a loaded machine. */
const CASE_TIMEOUT_MS = 120_000;

/**
 * Defines the conformance suite of one environment kind with node:test. Call it
 * at the top level of a test file.
 */
export function runEnvironmentConformance(
  kind: string,
  options: EnvironmentConformanceOptions,
): void {
  const skip: Readonly<Record<string, string | undefined>> = options.skip ?? {};

  describe(`environment conformance: ${kind}`, { concurrency: options.concurrency ?? 2 }, () => {
    // Anything that falls back to $WEFT_HOME in this process lands in a
    // directory of the suite, never in ~/.weft.
    let suiteHome = "";
    let previousHome: string | undefined;
    before(async () => {
      suiteHome = await mkdtemp(join(tmpdir(), `weft-env-conformance-${kind}-home-`));
      previousHome = process.env.WEFT_HOME;
      process.env.WEFT_HOME = suiteHome;
    });
    after(async () => {
      reapAll();
      if (previousHome === undefined) delete process.env.WEFT_HOME;
      else process.env.WEFT_HOME = previousHome;
      await rm(suiteHome, { recursive: true, force: true });
    });

    /** Registers one case, skipped with its reason when the kind asks. */
    const conformance = (
      name: EnvironmentConformanceCase,
      fn: (dirs: TestDirs) => Promise<void>,
      defaultSkip?: string,
      todo?: string,
    ) => {
      const reason = skip[name] ?? defaultSkip;
      if (reason !== undefined) {
        test(name, { skip: reason }, () => {});
        return;
      }
      test(name, {
        timeout: CASE_TIMEOUT_MS,
        ...(todo === undefined ? {} : { todo }),
      }, async () => {
        const tmp = await mkdtemp(join(tmpdir(), `weft-env-conformance-${kind}-`));
        try {
          await fn({ tmp, home: join(tmp, "home") });
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      });
    };

    /** A storage of the kind's choice holding `flow`, built. */
    const stored = async (dirs: TestDirs, flow: Flow<unknown>) => {
      const storage = options.makeStorage(dirs);
      const location = storage.addFlow(flow);
      await storage.build();
      return { storage, location };
    };

    /** An execution context with a fresh run id, a recording reporter and logger, and WEFT_HOME. */
    const contextFor = (dirs: TestDirs, extra: Partial<ExecuteContext> = {}) => {
      const reporter = new RecordingReporter();
      const logger = new RecordingLogger();
      const ctx: ExecuteContext = {
        flowRunId: `run-${randomUUID()}`,
        reporter,
        logger,
        env: { WEFT_HOME: dirs.home },
        ...extra,
      };
      return { ctx, reporter, logger };
    };

    /** Runs the greet flow with `name` and returns what its task wrote. */
    const greet = async (environment: Environment, dirs: TestDirs, name: string) => {
      const { storage, location } = await stored(dirs, greetFlow);
      const out = join(dirs.tmp, `greet-${randomUUID()}.json`);
      const { ctx, reporter, logger } = contextFor(dirs, { parameters: { name, out } });
      const result = await environment.execute(storage, location, ctx);
      return { result, ctx, reporter, logger, report: await readJson<GreetReport>(out), out };
    };

    const explain = (result: ExecuteResult, logger?: RecordingLogger) =>
      `state ${result.state.type}: ${result.state.message ?? ""}${
        logger ? `\nlogger:\n${logger.lines.map((l) => `${l.level} ${l.message}`).join("\n")}` : ""
      }`;

    test("options.skip names only cases of the suite", () => {
      const unknown = Object.keys(skip).filter(
        (name) => !(ENVIRONMENT_CONFORMANCE_CASES as readonly string[]).includes(name),
      );
      assert.deepEqual(unknown, [], `known cases: ${ENVIRONMENT_CONFORMANCE_CASES.join(" | ")}`);
      for (const [name, reason] of Object.entries(skip)) {
        assert.ok((reason ?? "").trim().length > 0, `the skip of "${name}" needs a reason`);
      }
    });

    conformance(
      "type is the kind, labels are strings and storageNeeds is a known need",
      async (dirs) => {
        const environment = options.makeEnvironment({ labels: ["gpu", "eu-west"] }, dirs);
        assert.equal(environment.type, kind);
        assert.deepEqual(environment.labels, ["gpu", "eu-west"]);
        assert.ok(
          (STORAGE_NEEDS as readonly string[]).includes(environment.storageNeeds),
          `storageNeeds ${environment.storageNeeds} is one of ${STORAGE_NEEDS.join(", ")}`,
        );
        const plain = options.makeEnvironment({}, dirs);
        assert.deepEqual(plain.labels, [], "labels default to []");
      },
    );

    conformance(
      "toJSON() round-trips through environmentFromJSON, without the hooks",
      async (dirs) => {
        const environment = options.makeEnvironment(
          {
            labels: ["gpu"],
            executor: { type: "concurrent", maxConcurrency: 3 },
            onStart: () => {},
            onExit: () => {},
          },
          dirs,
        );
        const json = environment.toJSON();
        assert.equal(json.type, kind);
        assert.equal(json.schemaVersion, 1);
        assert.deepEqual(JSON.parse(JSON.stringify(json)), json, "the JSON is plain data");
        assert.ok(
          !("onStart" in json) && !("onExit" in json),
          "hooks are code: they do not travel",
        );
        const rebuilt = environmentFromJSON(JSON.parse(JSON.stringify(json)));
        assert.equal(rebuilt.type, kind);
        assert.deepEqual(rebuilt.labels, ["gpu"]);
        assert.equal(rebuilt.storageNeeds, environment.storageNeeds);
        assert.deepEqual(rebuilt.toJSON(), json);
        const plain = options.makeEnvironment({}, dirs).toJSON();
        assert.deepEqual(environmentFromJSON(plain).toJSON(), plain, "defaults round-trip too");
      },
    );

    conformance("an environment rebuilt from JSON executes the flow", async (dirs) => {
      const original = options.makeEnvironment({ executor: "serial" }, dirs);
      const rebuilt = environmentFromJSON(JSON.parse(JSON.stringify(original.toJSON())));
      const { result, report, logger } = await greet(rebuilt, dirs, "json");
      assert.equal(result.state.type, "Success", explain(result, logger));
      assert.equal(report?.greeting, "hello, json");
    });

    conformance("setup accepts a storage that fits", async (dirs) => {
      const environment = options.makeEnvironment({}, dirs);
      const { storage } = await stored(dirs, greetFlow);
      await environment.setup(storage);
    });

    conformance(
      "an unfit storage is refused by setup, execute and flow.serialize, naming both",
      async (dirs) => {
        const unfit = options.unfitStorage!(dirs);
        const environment = options.makeEnvironment({}, dirs);
        const refused = await expectCode(
          () => environment.setup(unfit),
          "STORAGE_NOT_SHAREABLE",
          "setup with an unfit storage",
        );
        assert.ok(refused.message.includes(kind), `names the environment: ${refused.message}`);
        assert.ok(refused.message.includes(unfit.type), `names the storage: ${refused.message}`);

        const serialized = await expectCode(
          () => greetFlow.serialize({ storage: unfit, environment }),
          "STORAGE_NOT_SHAREABLE",
          "flow.serialize with an unfit pair",
        );
        assert.ok(serialized.message.includes(kind), serialized.message);
        assert.ok(serialized.message.includes(unfit.type), serialized.message);

        // execute refuses too: it rejects, or resolves Failed saying why; no flow runs.
        const location = unfit.addFlow(greetFlow);
        await unfit.build();
        const { ctx, reporter } = contextFor(dirs, {
          parameters: { name: "unfit", out: join(dirs.tmp, "unfit.json") },
        });
        let outcome: string;
        try {
          const { state } = await environment.execute(unfit, location, ctx);
          assert.equal(state.type, "Failed", `state ${state.type}: ${state.message}`);
          outcome = state.message ?? "";
        } catch (error) {
          outcome = (error as Error).message;
        }
        assert.ok(outcome.includes(kind), `execute names the environment: ${outcome}`);
        assert.ok(outcome.includes(unfit.type), `execute names the storage: ${outcome}`);
        assert.deepEqual(reporter.taskTypes("greet-1"), [], "no task ran");
        assert.equal(await readJson(join(dirs.tmp, "unfit.json")), undefined, "no task ran");
      },
      options.unfitStorage === undefined
        ? `${kind} takes every storage: there is no unfit pair`
        : undefined,
    );

    conformance("execute resolves with Success and the parameters reach the flow", async (dirs) => {
      const environment = options.makeEnvironment({}, dirs);
      const { result, report, logger } = await greet(environment, dirs, "conformance");
      assert.equal(result.state.type, "Success", explain(result, logger));
      assert.ok(result.state.isFinished(), "the state is final");
      assert.equal(report?.greeting, "hello, conformance");
    });

    conformance(
      "a failing task makes the run Failed, and the reporter hears the task's error",
      async (dirs) => {
        const environment = options.makeEnvironment({}, dirs);
        const { storage, location } = await stored(dirs, failFlow);
        const { ctx, reporter, logger } = contextFor(dirs);
        const result = await environment.execute(storage, location, ctx);
        assert.equal(result.state.type, "Failed", explain(result, logger));
        const boom = reporter.taskStates("boom-1");
        assert.deepEqual(
          boom.map((s) => s.type),
          ["Running", "Failed"],
        );
        assert.match(boom[1]?.message ?? "", /boom: the task failed on purpose/);
        assert.equal(boom[1]?.error?.message, "boom: the task failed on purpose");
        assert.equal(reporter.flowTypes().at(-1), "Failed");
      },
    );

    conformance(
      "the reporter hears every task by slug, Running before Success, then the flow's final state",
      async (dirs) => {
        const environment = options.makeEnvironment({}, dirs);
        const { result, reporter, ctx, logger } = await greet(environment, dirs, "events");
        assert.equal(result.state.type, "Success", explain(result, logger));
        assert.deepEqual(reporter.taskTypes("greet-1"), ["Running", "Success"]);
        assert.deepEqual(reporter.taskTypes("shout-1"), ["Running", "Success"]);
        assert.deepEqual(reporter.taskTypes("name"), ["Success"], "parameters are tasks too");
        const flows = reporter.flowTypes();
        assert.equal(flows[0], "Running", `flow states ${flows.join(", ")}`);
        assert.equal(flows.at(-1), "Success");
        assert.equal(flows.filter((t) => t !== "Running").length, 1, "one final flow state");
        for (const event of reporter.events) {
          if (event.kind !== "flow" && event.kind !== "task") continue;
          assert.equal(event.run.id, ctx.flowRunId, "every event carries the run id");
          assert.equal(event.run.flowName, "env-greet");
        }
        const lastFlow = reporter.events.findLastIndex((e) => e.kind === "flow");
        const lastTask = reporter.events.findLastIndex((e) => e.kind === "task");
        assert.ok(lastTask < lastFlow, "the final flow state comes after every task state");
        const final = reporter.events[lastFlow];
        assert.ok(final?.kind === "flow" && final.run.taskCount >= 4, "the task count is known");
      },
    );

    conformance(
      "logs from context().logger reach reporter.log with the run id and the task slug",
      async (dirs) => {
        const environment = options.makeEnvironment({}, dirs);
        const { result, reporter, ctx, logger } = await greet(environment, dirs, "logs");
        assert.equal(result.state.type, "Success", explain(result, logger));
        const record = reporter.logs().find((r) => r.message === "greeting logs");
        assert.ok(
          record,
          `a log record "greeting logs" among: ${JSON.stringify(reporter.logs().map((r) => r.message))}`,
        );
        assert.equal(record.level, "info");
        assert.equal(record.flowRunId, ctx.flowRunId);
        assert.equal(record.taskSlug, "greet-1");
        assert.deepEqual(record.fields, { who: "logs" });
        assert.equal(typeof record.time, "number");
      },
    );

    conformance("cancelling through ctx.signal ends the run Cancelled", async (dirs) => {
      const environment = options.makeEnvironment({}, dirs);
      const { storage, location } = await stored(dirs, napFlow);
      const pidFile = join(dirs.tmp, "nap.pid");
      const controller = new AbortController();
      const { ctx, logger } = contextFor(dirs, {
        parameters: { ms: 60_000, pidFile },
        signal: controller.signal,
      });
      const started = Date.now();
      const running = environment.execute(storage, location, ctx);
      await readPids(pidFile, 1);
      controller.abort();
      const result = await running;
      assert.equal(result.state.type, "Cancelled", explain(result, logger));
      assert.ok(Date.now() - started < 55_000, "the task did not sleep its full minute");
    });

    conformance(
      "an already-aborted signal ends the run Cancelled without running the flow",
      async (dirs) => {
        const environment = options.makeEnvironment({}, dirs);
        const { storage, location } = await stored(dirs, greetFlow);
        const out = join(dirs.tmp, "aborted.json");
        const { ctx, reporter, logger } = contextFor(dirs, {
          parameters: { name: "aborted", out },
          signal: AbortSignal.abort(),
        });
        const result = await environment.execute(storage, location, ctx);
        assert.equal(result.state.type, "Cancelled", explain(result, logger));
        assert.ok(
          !reporter.taskTypes("greet-1").includes("Running"),
          `greet never ran: ${reporter.taskTypes("greet-1").join(", ")}`,
        );
        assert.equal(await readJson(out), undefined, "greet never ran");
      },
    );

    conformance(
      "a failing onStart fails the run with 'onStart hook failed' and the flow never starts",
      async (dirs) => {
        const exits: State[] = [];
        let startCtx: ExecuteContext | undefined;
        const environment = options.makeEnvironment(
          {
            onStart: (ctx) => {
              startCtx = ctx;
              throw new Error("no quota left");
            },
            onExit: (_ctx, state) => {
              exits.push(state);
            },
          },
          dirs,
        );
        const { result, reporter, ctx, report } = await greet(environment, dirs, "hooked");
        assert.equal(result.state.type, "Failed");
        assert.equal(result.state.message, "onStart hook failed: no quota left");
        assert.equal(result.state.error?.message, "no quota left");
        assert.equal(startCtx?.flowRunId, ctx.flowRunId, "onStart gets the execution context");
        assert.equal(report, undefined, "the flow's tasks never ran");
        assert.deepEqual(
          reporter.events.filter((e) => e.kind === "task"),
          [],
          "no task state was reported",
        );
        assert.deepEqual(reporter.flowTypes(), ["Failed"], "the reporter hears the failure");
        assert.equal(exits.length, 1, "onExit still runs");
        assert.equal(exits[0]?.message, "onStart hook failed: no quota left");
      },
    );

    conformance(
      "a failing onStart is reported with the run's id and the flow's name",
      async (dirs) => {
        const environment = options.makeEnvironment(
          {
            onStart: () => {
              throw new Error("no quota left");
            },
          },
          dirs,
        );
        const { reporter, ctx } = await greet(environment, dirs, "hooked-name");
        const failed = reporter.events.find((e) => e.kind === "flow");
        assert.ok(failed?.kind === "flow", "the reporter hears the failure");
        assert.equal(failed.run.id, ctx.flowRunId);
        assert.equal(failed.run.flowName, "env-greet", "the reporter learns which flow failed");
      },
    );

    conformance(
      "onExit is called once with the final state, on success and on failure",
      async (dirs) => {
        const calls: { flowRunId: string; state: State }[] = [];
        const environment = options.makeEnvironment(
          {
            onExit: (ctx, state) => {
              calls.push({ flowRunId: ctx.flowRunId, state });
            },
          },
          dirs,
        );
        const ok = await greet(environment, dirs, "exit");
        assert.equal(ok.result.state.type, "Success", explain(ok.result, ok.logger));
        const { storage, location } = await stored(dirs, failFlow);
        const failing = contextFor(dirs);
        const failed = await environment.execute(storage, location, failing.ctx);
        assert.equal(failed.state.type, "Failed");
        assert.equal(calls.length, 2, "once per execution");
        assert.equal(calls[0]?.flowRunId, ok.ctx.flowRunId);
        assert.equal(calls[0]?.state.type, "Success");
        assert.equal(calls[0]?.state.message, ok.result.state.message);
        assert.equal(calls[1]?.flowRunId, failing.ctx.flowRunId);
        assert.equal(calls[1]?.state.type, "Failed");
        assert.equal(calls[1]?.state.message, failed.state.message);
      },
    );

    conformance("a throwing onExit leaves the state as it was and is logged", async (dirs) => {
      const environment = options.makeEnvironment(
        {
          onExit: () => {
            throw new Error("cleanup exploded");
          },
        },
        dirs,
      );
      const { result, logger } = await greet(environment, dirs, "exit-throws");
      assert.equal(result.state.type, "Success", explain(result, logger));
      const line = logger.lines.find((l) => l.message.includes("cleanup exploded"));
      assert.ok(line, `the onExit error is logged: ${JSON.stringify(logger.lines)}`);
      assert.equal(line.level, "error");
      assert.match(line.message, /onExit hook failed/);
    });

    conformance(
      "the executor option reaches the tasks (worker-threads runs them off the main thread)",
      async (dirs) => {
        const threads = options.makeEnvironment({ executor: "worker-threads" }, dirs);
        const serial = options.makeEnvironment({ executor: "serial" }, dirs);
        const [off, on] = await Promise.all([
          greet(threads, dirs, "threads"),
          greet(serial, dirs, "serial"),
        ]);
        assert.equal(off.result.state.type, "Success", explain(off.result, off.logger));
        assert.equal(on.result.state.type, "Success", explain(on.result, on.logger));
        assert.ok(
          (off.report?.threadId ?? 0) > 0,
          `worker-threads: a worker's threadId, got ${off.report?.threadId}`,
        );
        assert.equal(on.report?.threadId, 0, "serial: the main thread");
      },
    );

    conformance("two runs execute at once, each with its own run id", async (dirs) => {
      const environment = options.makeEnvironment({}, dirs);
      const [a, b] = await Promise.all([
        greet(environment, dirs, "first"),
        greet(environment, dirs, "second"),
      ]);
      assert.equal(a.result.state.type, "Success", explain(a.result, a.logger));
      assert.equal(b.result.state.type, "Success", explain(b.result, b.logger));
      assert.equal(a.report?.greeting, "hello, first");
      assert.equal(b.report?.greeting, "hello, second");
      for (const run of [a, b]) {
        const ids = new Set(
          run.reporter.events.flatMap((e) =>
            e.kind === "flow" || e.kind === "task" ? [e.run.id] : [],
          ),
        );
        assert.deepEqual([...ids], [run.ctx.flowRunId], "a reporter hears only its run");
      }
    });

    conformance(
      "a run whose flow cannot be loaded: the reporter hears one final state, the one execute resolves with",
      async (dirs) => {
        const environment = options.makeEnvironment({}, dirs);
        const { storage, location } = await stored(dirs, greetFlow);
        // The artifact is there, the flow is not: the run fails before any task starts.
        const missing = `${location.slice(0, location.lastIndexOf("#"))}#no-such-flow`;
        const { ctx, reporter, logger } = contextFor(dirs, { parameters: { name: "x" } });
        const result = await environment.execute(storage, missing, ctx);
        assert.ok(result.state.isFailed(), explain(result, logger));
        const finals = reporter.events.flatMap((e) =>
          e.kind === "flow" && e.state.type !== "Running" ? [e] : [],
        );
        assert.equal(
          finals.length,
          1,
          `final flow states heard: ${reporter.flowTypes().join(", ")}`,
        );
        assert.equal(finals[0]?.state.type, result.state.type);
        assert.equal(finals[0]?.state.message, result.state.message);
        assert.equal(finals[0]?.run.id, ctx.flowRunId);
        assert.equal(finals[0]?.run.flowName, "no-such-flow");
        assert.deepEqual(reporter.taskTypes("greet-1"), [], "no task ran");
      },
    );

    conformance("teardown is idempotent", async (dirs) => {
      const environment = options.makeEnvironment({}, dirs);
      const { result, ctx, logger } = await greet(environment, dirs, "teardown");
      assert.equal(result.state.type, "Success", explain(result, logger));
      await environment.teardown?.(ctx);
      await environment.teardown?.(ctx);
      await environment.teardown?.({ flowRunId: "never-executed" });
    });
  });
}
