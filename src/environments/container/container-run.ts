// One flow run in one container: create it (labelled with the run and the owner, with an init
// as PID 1), attach to it before starting it, read events and logs while it runs, wait for its
// end, decide the run's state, and remove it, whatever happened. The attach holds the
// container's stdin open: if this process dies (an agent killed -9), stdin closes and the flow
// run stops itself (WEFT_EXIT_WITH_PARENT); the stopped container is removed by the next agent
// of the same owner (reaping).
//
// Events travel on stdout behind the run's marker (flow-run-protocol.ts, "events on stdout"):
// the engine multiplexes stdout and stderr on one attach stream, which is split back here;
// each stream is then cut into lines. As in the subprocess environment, the final flow event
// is the run's outcome and every other event is passed on as data; stderr lines and unmarked
// stdout lines become log records, and the last stderr lines explain a death.
//
// How a container that sent no final state ended:
// - our timeout killed it: TimedOut; our cancel stopped it (SIGTERM, then SIGKILL after the
//   grace): Cancelled;
// - out of memory: exit 137 (SIGKILL) with a memory limit set and no kill from us, or the
//   engine's OOMKilled (Docker sets it; Podman here reads false), or V8's own heap-limit
//   abort: Failed "… out of memory …", crashed, so that an agent leaves it to run health;
// - any other death by signal (exit 129–159 under the init: killed from outside): crashed;
// - any other exit: Failed, saying how (describeExit).

import { constants } from "node:os";
import { createInterface } from "node:readline";
import { PassThrough, type Readable } from "node:stream";
import type Docker from "dockerode";
import type { ContainerEngine } from "../../containers/engine.ts";
import { engineMessage, statusOf } from "../../containers/engine.ts";
import { WeftError } from "../../core/errors.ts";
import type { FlowRunInfo, LogRecord } from "../../core/reporter.ts";
import { State } from "../../core/states.ts";
import { createGateAnswerer } from "../../serialization/flow-run-gate.ts";
import {
  eventLinePrefix,
  forwardEvent,
  parseEventLine,
  splitEventLine,
} from "../../serialization/flow-run-protocol.ts";
import { stateFromJSON } from "../../serialization/flow-serializer.ts";
import { type ExecuteContext, isFinalFlowState } from "../environment.ts";
import { describeExit } from "../subprocess/process-tree.ts";

/** What one container run needs. */
export interface ContainerRunSpec {
  readonly engine: ContainerEngine;
  /** The container as the engine creates it (image, command, variables, labels, limits). */
  readonly create: Docker.ContainerCreateOptions;
  /** The marker of this run's event lines on stdout (WEFT_EVENTS_MARKER). */
  readonly marker: string;
  /** The memory limit in MiB, when set (an unexplained SIGKILL then means out of memory). */
  readonly memoryMb?: number;
  /** Wall-clock limit of the whole run; past it the container is killed. */
  readonly timeoutMs?: number;
  /** After a cancel, how long the container may take to stop before it is killed. */
  readonly killGraceMs: number;
  /** Told the container's id once it exists (so that teardown can remove it). */
  readonly onCreated?: (id: string) => void;
}

/** How a container run ended. */
export interface ContainerRunOutcome {
  readonly state: State;
  /** The container died without saying how the run ended (out of memory, killed from outside). */
  readonly crashed: boolean;
}

const STDERR_TAIL = 30;
/** After the container exited, how long its output may take to drain before it is cut. */
const DRAIN_MS = 3000;

/** Runs one flow run in a container and removes the container afterwards. */
export async function runContainer(
  spec: ContainerRunSpec,
  ctx: ExecuteContext,
  run: { -readonly [K in keyof FlowRunInfo]: FlowRunInfo[K] },
): Promise<ContainerRunOutcome> {
  const { engine } = spec;
  const started = Date.now();
  let container: Docker.Container;
  try {
    container = await engine.docker.createContainer(spec.create);
  } catch (error) {
    throw engineFailure(engine, `create a container of ${spec.create.Image}`, error);
  }
  spec.onCreated?.(container.id);
  try {
    return await attachAndRun(spec, ctx, run, container, started);
  } finally {
    await engine.remove(container.id).catch((error: unknown) => {
      ctx.logger?.warn(
        `could not remove container ${container.id.slice(0, 12)}: ${engineMessage(error)}`,
        { flowRunId: ctx.flowRunId },
      );
    });
  }
}

async function attachAndRun(
  spec: ContainerRunSpec,
  ctx: ExecuteContext,
  run: { -readonly [K in keyof FlowRunInfo]: FlowRunInfo[K] },
  container: Docker.Container,
  started: number,
): Promise<ContainerRunOutcome> {
  const { engine } = spec;
  const short = container.id.slice(0, 12);
  let final: State | undefined;
  const stderrTail: string[] = [];
  const prefix = eventLinePrefix(spec.marker);

  const output = (line: string, stream: "stdout" | "stderr") => {
    if (stream === "stderr") {
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
    }
    const record: LogRecord = {
      level: stream === "stderr" ? "warn" : "info",
      message: line,
      time: Date.now(),
      flowRunId: ctx.flowRunId,
      fields: { stream, container: short },
    };
    ctx.reporter?.log?.(record);
    ctx.logger?.[record.level](line, { flowRunId: ctx.flowRunId, stream });
  };
  // Concurrency limits: the run's gate answers the container's requests on its stdin.
  let answerGate: ((line: string) => void) | undefined;
  const gate =
    ctx.taskGate === undefined
      ? undefined
      : createGateAnswerer(ctx.taskGate, ctx.flowRunId, (line) => answerGate?.(line));
  const event = (line: string) => {
    try {
      const parsed = parseEventLine(line);
      if (parsed.event === "gate") gate?.handle(parsed);
      else if (parsed.event === "flow" && isFinalFlowState(parsed.state.type))
        final = stateFromJSON(parsed.state);
      else if (ctx.reporter) forwardEvent(parsed, ctx.reporter, run);
    } catch (error) {
      ctx.logger?.warn(
        `ignored a malformed event from the flow-run container: ${(error as Error).message}`,
      );
    }
  };

  let attached: NodeJS.ReadWriteStream;
  try {
    // stdin too, and never written: when this process dies, the engine closes the container's
    // stdin, and `weft execute` (WEFT_EXIT_WITH_PARENT) stops the run, as a subprocess's does.
    attached = await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    });
  } catch (error) {
    throw engineFailure(engine, `attach to container ${short}`, error);
  }
  answerGate = (line) => {
    if ((attached as unknown as { writable?: boolean }).writable !== false) attached.write(line);
  };
  attached.on("error", () => {});
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  container.modem.demuxStream(attached, stdout, stderr);
  const linesDone = Promise.all([
    readLines(stdout, (line) => {
      const split = splitEventLine(line, prefix);
      if (split.output !== undefined) output(split.output, "stdout");
      if (split.event !== undefined) event(split.event);
    }),
    readLines(stderr, (line) => output(line, "stderr")),
  ]);
  const ended = new Promise<void>((resolve) => {
    attached.on("end", resolve);
    attached.on("close", resolve);
    attached.on("error", () => resolve());
  }).then(() => {
    gate?.close();
    stdout.end();
    stderr.end();
  });

  let timedOut = false;
  let cancelled = false;
  let killedByUs = false;
  const signal = (name: "SIGTERM" | "SIGKILL") => {
    if (name === "SIGKILL") killedByUs = true;
    container.kill({ signal: name }).catch(() => {
      // Not running any more: nothing to stop.
    });
  };
  const timer =
    spec.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          signal("SIGKILL");
        }, spec.timeoutMs);
  let graceTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    cancelled = true;
    signal("SIGTERM");
    graceTimer = setTimeout(() => signal("SIGKILL"), spec.killGraceMs);
  };

  let exitCode: number;
  try {
    if (ctx.signal?.aborted) {
      return {
        state: new State("Cancelled", "the flow run was cancelled before its container started"),
        crashed: false,
      };
    }
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await container.start();
    } catch (error) {
      throw engineFailure(engine, `start container ${short} of ${spec.create.Image}`, error);
    }
    try {
      const waited = (await container.wait()) as { StatusCode?: number };
      exitCode = waited.StatusCode ?? -1;
    } catch (error) {
      // Removed from outside while running: the engine can no longer say how it ended.
      if (statusOf(error) !== 404) throw engineFailure(engine, `wait for ${short}`, error);
      exitCode = -1;
    }
    // The output may still be on its way: wait for it, within reason.
    await Promise.race([ended, delay(DRAIN_MS)]);
    stdout.end();
    stderr.end();
    await linesDone;
  } finally {
    clearTimeout(timer);
    clearTimeout(graceTimer);
    ctx.signal?.removeEventListener("abort", onAbort);
    (attached as unknown as { destroy?: () => void }).destroy?.();
  }

  if (final !== undefined) return { state: final, crashed: false };
  if (timedOut) {
    return {
      state: new State(
        "TimedOut",
        `hard timeout after ${spec.timeoutMs} ms: the flow-run container was killed`,
        undefined,
        undefined,
        started,
      ),
      crashed: false,
    };
  }
  if (cancelled) {
    return {
      state: new State(
        "Cancelled",
        "the flow run was cancelled; its container was stopped",
        undefined,
        undefined,
        started,
      ),
      crashed: false,
    };
  }
  const oomKilled = await inspectOomKilled(container);
  const heapOom = /heap out of memory|Reached heap limit|Allocation failed/i.test(
    stderrTail.join("\n"),
  );
  if (oomKilled || heapOom || (exitCode === 137 && spec.memoryMb !== undefined && !killedByUs)) {
    const limit = spec.memoryMb === undefined ? "" : ` (memory limit ${spec.memoryMb} MiB)`;
    return failed(
      `the flow-run container ran out of memory${limit}: exit ${exitCode}`,
      "OutOfMemory",
      started,
      true,
    );
  }
  if (exitCode === -1) {
    return failed(
      `the flow-run container ${short} disappeared while it ran (removed from outside)`,
      "ContainerExit",
      started,
      true,
    );
  }
  if (exitCode > 128 && exitCode < 160) {
    const name = signalName(exitCode - 128);
    return failed(
      `the flow-run container was killed by ${name} (exit ${exitCode})`,
      "ContainerExit",
      started,
      true,
    );
  }
  const message = describeExit(exitCode, null, stderrTail).replace(
    "the flow-run process",
    "the flow-run container",
  );
  return failed(message, "ContainerExit", started, false);
}

function failed(
  message: string,
  type: string,
  started: number,
  crashed: boolean,
): ContainerRunOutcome {
  return { state: new State("Failed", message, undefined, { type, message }, started), crashed };
}

async function inspectOomKilled(container: Docker.Container): Promise<boolean> {
  try {
    const info = await container.inspect();
    return info.State?.OOMKilled === true;
  } catch {
    return false;
  }
}

function signalName(n: number): string {
  const found = Object.entries(constants.signals).find(([, v]) => v === n);
  return found?.[0] ?? `signal ${n}`;
}

function readLines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on("line", onLine);
    lines.on("close", resolve);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** An engine call that failed, as weft's error (unreachable engine or the engine's words). */
export function engineFailure(engine: ContainerEngine, what: string, error: unknown): WeftError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT" || code === "ECONNREFUSED" || code === "EACCES") {
    return new WeftError(
      "CONTAINER_ENGINE_UNREACHABLE",
      `could not ${what}: no container engine answers at ${engine.host}`,
      {
        cause: error,
        hint: "start the engine, or give its socket with --container-host or WEFT_CONTAINER_HOST",
      },
    );
  }
  return new WeftError(
    "CONTAINER_ENGINE_ERROR",
    `could not ${what} on ${engine.host}: ${engineMessage(error)}`,
    { cause: error },
  );
}
