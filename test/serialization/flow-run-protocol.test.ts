// The flow-run protocol: the variables a parent sets for `weft execute` and the event lines
// the child writes back, encoded and checked by one module both sides import.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { State } from "../../src/index.ts";
import {
  codeVariables,
  createEventsMarker,
  createEventWriter,
  eventLinePrefix,
  FLOW_RUN_VARIABLES,
  forwardEvent,
  parseEventLine,
  readFlowRunEnv,
  runVariables,
  splitEventLine,
  stateToWire,
  type WireReporter,
} from "../../src/serialization/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import { expectCode } from "../support/expect-code.ts";

const storageJson = { type: "local", schemaVersion: 1, directory: "/flows" };

describe("flow-run protocol: variables", () => {
  test("what the parent writes, the child reads back: location, storage, run id, parameters, executor, events, resume, approvals, task gate", () => {
    const env = {
      ...codeVariables(storageJson, "abc.mjs#etl"),
      ...runVariables({
        flowRunId: "run-1",
        parameters: { json: JSON.stringify({ n: 3, who: "protocol" }) },
        executor: { type: "concurrent", maxConcurrency: 2 },
        eventsFd: 3,
        exitWithParent: true,
        resume: "run-0",
        approve: ["review-1", "a, b-2"],
        taskGate: true,
      }),
    };
    assert.deepEqual(readFlowRunEnv(env), {
      location: "abc.mjs#etl",
      storage: storageJson,
      flowRunId: "run-1",
      parameters: { n: 3, who: "protocol" },
      executor: { type: "concurrent", maxConcurrency: 2 },
      eventsFd: 3,
      exitWithParent: true,
      resume: "run-0",
      approve: ["review-1", "a, b-2"],
      taskGate: true,
    });
    assert.throws(
      () => readFlowRunEnv({ ...env, WEFT_TASK_GATE: "yes" }),
      /WEFT_TASK_GATE must be 1 \(or unset\), got "yes"/,
    );
  });

  test("the parent sets every run variable, clearing (empty) what it does not use, so nothing inherited leaks", () => {
    const env = runVariables({ flowRunId: "run-2", parameters: { file: "/tmp/p.json" } });
    for (const name of Object.values(FLOW_RUN_VARIABLES)) {
      if (name === "WEFT_FLOW_LOCATION" || name === "WEFT_STORAGE") continue;
      assert.ok(name in env, `${name} is set or cleared`);
    }
    assert.equal(env.WEFT_PARAMETERS, "");
    assert.equal(env.WEFT_EXECUTOR, "");
    const inherited = {
      ...codeVariables(storageJson, "abc.mjs#etl"),
      WEFT_EXECUTOR: "worker-threads",
      WEFT_RESUME: "old",
      WEFT_APPROVE: '["old-1"]',
      ...runVariables({ flowRunId: "run-3", parameters: { json: "{}" } }),
    };
    const read = readFlowRunEnv(inherited);
    assert.equal(read.executor, undefined, "a cleared WEFT_EXECUTOR is unset");
    assert.equal(read.resume, undefined);
    assert.equal(read.approve, undefined);
    assert.equal(read.exitWithParent, false);
    assert.deepEqual(read.parameters, {});
  });

  test("parameters in a file win over WEFT_PARAMETERS; a bare executor kind stays a string", async () => {
    const dir = await mkdtemp(join(tmpdir(), "weft-protocol-"));
    try {
      const file = join(dir, "parameters.json");
      await writeFile(file, JSON.stringify({ big: "x".repeat(100) }));
      const read = readFlowRunEnv({
        ...codeVariables(storageJson, "abc.mjs#etl"),
        WEFT_PARAMETERS: '{"small":1}',
        WEFT_PARAMETERS_FILE: file,
        WEFT_EXECUTOR: "serial",
      });
      assert.deepEqual(read.parameters, { big: "x".repeat(100) });
      assert.equal(read.executor, "serial");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("every malformed or missing variable is refused as ENV_VAR_INVALID, naming it", async () => {
    const base = codeVariables(storageJson, "abc.mjs#etl");
    const cases: [Record<string, string | undefined>, string, RegExp][] = [
      [{ ...base, WEFT_FLOW_LOCATION: undefined }, "WEFT_FLOW_LOCATION", /is not set/],
      [{ ...base, WEFT_STORAGE: "" }, "WEFT_STORAGE", /is not set/],
      [{ ...base, WEFT_STORAGE: "{not json" }, "WEFT_STORAGE", /not valid JSON/],
      [{ ...base, WEFT_PARAMETERS: "[1, 2]" }, "WEFT_PARAMETERS", /JSON object/],
      [{ ...base, WEFT_EXECUTOR: '{"type":' }, "WEFT_EXECUTOR", /not valid JSON/],
      [{ ...base, WEFT_EVENTS_FD: "1" }, "WEFT_EVENTS_FD", /3 or more/],
      [{ ...base, WEFT_EVENTS_FD: "three" }, "WEFT_EVENTS_FD", /3 or more/],
      [{ ...base, WEFT_EXIT_WITH_PARENT: "true" }, "WEFT_EXIT_WITH_PARENT", /must be 1/],
      [{ ...base, WEFT_APPROVE: "review-1" }, "WEFT_APPROVE", /not valid JSON/],
      [{ ...base, WEFT_APPROVE: '["a", 2]' }, "WEFT_APPROVE", /JSON array of task slugs/],
      [
        { ...base, WEFT_PARAMETERS_FILE: "/no/such/parameters.json" },
        "WEFT_PARAMETERS_FILE",
        /cannot be read/,
      ],
    ];
    for (const [env, name, why] of cases) {
      const error = await expectCode(() => readFlowRunEnv(env), "ENV_VAR_INVALID", name);
      assert.ok(error.message.includes(name), `${error.message} names ${name}`);
      assert.match(error.message, why, name);
    }
    const unset = await expectCode(
      () => readFlowRunEnv({}),
      "ENV_VAR_INVALID",
      "WEFT_FLOW_LOCATION",
    );
    assert.match(unset.hint ?? "", /agents and environments/);
  });
});

describe("flow-run protocol: events on stdout (containers)", () => {
  test("the marker travels in WEFT_EVENTS_MARKER; a malformed one is refused naming it", async () => {
    const marker = createEventsMarker();
    assert.match(marker, /^[0-9a-f]{24}$/);
    assert.notEqual(marker, createEventsMarker(), "fresh for each run");
    const env = {
      ...codeVariables(storageJson, "abc.mjs#etl"),
      ...runVariables({ flowRunId: "r", parameters: { json: "{}" }, eventsMarker: marker }),
    };
    assert.equal(readFlowRunEnv(env).eventsMarker, marker);
    assert.equal(
      readFlowRunEnv({ ...env, ...runVariables({ flowRunId: "r", parameters: { json: "{}" } }) })
        .eventsMarker,
      undefined,
      "cleared when unused",
    );
    const error = await expectCode(
      () => readFlowRunEnv({ ...env, WEFT_EVENTS_MARKER: "short" }),
      "ENV_VAR_INVALID",
      "a short marker",
    );
    assert.match(error.message, /WEFT_EVENTS_MARKER/);
  });

  test("a stdout line splits into output and an event: before the prefix is output", () => {
    const prefix = eventLinePrefix(createEventsMarker());
    const lines: string[] = [];
    const writer = createEventWriter((line) => lines.push(prefix + line));
    writer.log?.({ level: "info", message: "hi", time: 1, flowRunId: "r" });
    const written = lines[0]!.replace(/\n$/, "");
    assert.deepEqual(splitEventLine("plain output", prefix), { output: "plain output" });
    const alone = splitEventLine(written, prefix);
    assert.equal(alone.output, undefined);
    assert.equal(parseEventLine(alone.event!).event, "log");
    const after = splitEventLine(`partial${written}`, prefix);
    assert.equal(after.output, "partial");
    assert.equal(parseEventLine(after.event!).event, "log");
    // Another run's marker is output here.
    const other = eventLinePrefix(createEventsMarker());
    assert.deepEqual(splitEventLine(`${other}{}`, prefix), { output: `${other}{}` });
  });
});

describe("flow-run protocol: event lines", () => {
  /** A recording reporter that also takes wire states, keeping them as they came. */
  class WireRecorder extends RecordingReporter implements WireReporter {
    readonly wire: { kind: "flow" | "task"; slug?: string; state: unknown }[] = [];
    wireTaskState(
      _run: unknown,
      task: { slug: string },
      _mapIndex: number | undefined,
      state: unknown,
    ): void {
      this.wire.push({ kind: "task", slug: task.slug, state });
    }
    wireFlowState(_run: unknown, state: unknown): void {
      this.wire.push({ kind: "flow", state });
    }
  }

  const loaded = State.withResult(
    "Success",
    undefined,
    { rows: 7 },
    1_000,
    1,
    "etl/load-1/-/run-9",
  );
  const lines = () => {
    const out: string[] = [];
    const writer = createEventWriter((line) => out.push(line));
    const run = { id: "run-9", flowName: "etl", parameters: {}, taskCount: 5 };
    writer.flowState?.(run, new State("Running", undefined, undefined, undefined, 1_000));
    writer.taskState?.(run, { slug: "load-1", name: "load", mapped: false }, undefined, loaded);
    writer.log?.({ level: "info", message: "loaded", time: 2_000, flowRunId: "run-9" });
    return out;
  };

  test("a state crosses in its wire form: versioned, without its result, keeping its location", () => {
    const [, task] = lines();
    const event = parseEventLine(task!.trimEnd());
    assert.ok(event.event === "task");
    assert.equal(event.state.schemaVersion, 1);
    assert.equal("result" in event.state, false, "results stay in the flow-run process");
    assert.equal(event.state.location, "etl/load-1/-/run-9");
    assert.deepEqual(event.state, stateToWire(loaded), "the writer and stateToWire give one form");
  });

  test("events reach a wire reporter as data, and other reporters as rebuilt states", () => {
    const events = lines().map((l) => parseEventLine(l.trimEnd()));
    const wire = new WireRecorder();
    const plain = new RecordingReporter();
    const run = { id: "run-9", flowName: "etl", parameters: {}, taskCount: 0 };
    for (const event of events) forwardEvent(event, wire, run);
    assert.equal(run.taskCount, 5, "the flow event carries the task count");
    assert.deepEqual(
      wire.wire.map((w) => w.kind),
      ["flow", "task"],
    );
    const taskEvent = events[1]!;
    assert.ok(taskEvent.event === "task");
    assert.equal(wire.wire[1]?.state, taskEvent.state, "the parsed state itself, not a copy");
    assert.equal(wire.wire[1]?.state instanceof State, false);
    assert.deepEqual(wire.flowTypes(), [], "no state was rebuilt for the wire reporter");
    assert.deepEqual(wire.taskTypes("load-1"), []);
    assert.equal(wire.logs()[0]?.message, "loaded");

    for (const event of events) forwardEvent(event, plain, { ...run });
    assert.deepEqual(plain.flowTypes(), ["Running"]);
    assert.deepEqual(plain.taskTypes("load-1"), ["Success"]);
    assert.ok(plain.taskStates("load-1")[0] instanceof State);
    assert.equal(plain.logs()[0]?.message, "loaded");
  });
});
