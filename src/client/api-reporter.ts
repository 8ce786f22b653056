// The reporter that writes a flow run's progress to the server; the agent makes one
// per run and hands it to the run's environment. An engine's or flow-run process's events
// arrive as fast as tasks run; this module turns them into few, ordered, retried
// writes.
//
// Invariants:
// - Order: task states and logs are batched; a flow state is a barrier, so every
//   earlier task state is on the server before the run's final state.
// - At most once: every write carries the row version it expects (the flow run's, and
//   a per-task-run counter), so a batch retried after the server applied it is
//   recognised and not applied twice.
// - A lost run stops writing: STALE_VERSION or INVALID_TRANSITION on a flow state
//   means the run was rescheduled, cancelled or finished elsewhere; `onLost` tells the
//   caller to stop the run.
// - Reporting never stops for one bad write: a batch refused for its size or content
//   (413, 400) is halved until the refused state is alone, sent again shrunk, then
//   dropped with a warning; later versions of its task run count past it.
// - A restarted run does not send states of task runs the server holds as succeeded
//   (a finished task run takes no further state).
// - Through an API that applies writes in order (`writeInOrder`, the agent's batcher), the
//   writes queued when one is sent go with it in one request (a short run's Running, task
//   states and final state: one answer to wait for, not three). The server takes each only
//   if the one before it was taken, so order and barriers hold as if sent one by one; a
//   flow state's version is the one the flow state before it in the group leads to.
import { isWeftError } from "../core/errors.ts";
import type { FlowRunInfo, Logger, LogRecord, Reporter, TaskInfo } from "../core/reporter.ts";
import { ERROR_TEXT_LIMIT, type State, truncateText } from "../core/states.ts";
import type { RunWrite, RunWriteResult, TaskRunStateWrite } from "../serialization/api-schemas.ts";
import { stateToWire, type WireReporter } from "../serialization/flow-run-protocol.ts";
import type { SerializedState } from "../serialization/schemas.ts";
import { runWriteError } from "./api-client.ts";
import { isTransient, retryTransient } from "./backoff.ts";

/** The part of the API a reporter writes to (the API client has it). */
export interface ReportingApi {
  setTaskRunStates(writes: TaskRunStateWrite[]): Promise<number[]>;
  setFlowRunState(
    id: string,
    state: SerializedState,
    version: number,
  ): Promise<{ version: number }>;
  ingestLogs(records: LogRecord[]): Promise<void>;
  /**
   * Writes of one run in one request, applied in order, each only if the one before it was
   * taken (refused RUN_WRITE_SKIPPED otherwise); one result per write. When present, the
   * reporter sends what it has queued together.
   */
  writeInOrder?(writes: readonly RunWrite[]): Promise<RunWriteResult[]>;
}

/** How an API reporter batches and retries. */
export interface ApiReporterOptions {
  readonly api: ReportingApi;
  readonly flowRunId: string;
  /** The flow run's row version when the reporter starts (from the claim). */
  readonly flowRunVersion: number;
  /** The claim this run belongs to: writes are refused once the run is claimed again. */
  readonly claim?: number;
  /** Current row versions of task runs already recorded (a restarted run), by {@link taskRunKey}. */
  readonly taskRunVersions?: ReadonlyMap<string, number>;
  /**
   * Task runs the server already holds as succeeded (a restarted run), by
   * {@link taskRunKey}: their states are not sent again, since a finished task
   * run takes no further state (the server would refuse the batch as an invalid
   * transition, and the run would be lost).
   */
  readonly succeededTaskRuns?: ReadonlySet<string>;
  /** Longest wait before buffered states are sent. @default 100 */
  readonly flushIntervalMs?: number;
  /** Task states (or log lines) per request. @default 2000 */
  readonly maxBatch?: number;
  /** Give up on a write the server keeps refusing as unavailable after this long. @default 600000 */
  readonly retryDeadlineMs?: number;
  /** Least severe log level sent to the server. @default "info" */
  readonly logLevel?: LogRecord["level"];
  /** Hears retries and dropped writes. */
  readonly logger?: Logger;
  /**
   * Called once when the server refuses a flow-run state as stale or invalid:
   * the run was taken away (rescheduled, cancelled, finished elsewhere). The
   * reporter stops writing; the caller should stop the run.
   */
  readonly onLost?: (error: Error) => void;
}

/**
 * A reporter that also says when everything it heard is on the server. It takes states
 * as State objects (from an engine in this process) or in their wire form (events of a
 * flow-run process, passed on as they came).
 */
export interface ApiReporter extends Reporter, WireReporter {
  flowState(run: FlowRunInfo, state: State): void;
  taskState(run: FlowRunInfo, task: TaskInfo, mapIndex: number | undefined, state: State): void;
  log(record: LogRecord): void;
  /** Sends what is buffered and waits until every earlier write is done. */
  flush(): Promise<void>;
  /** Flushes and stops. Idempotent. */
  close(): Promise<void>;
  /**
   * Takes the flow run's row version from the server after a change made
   * elsewhere that this run accepts (a cancel moving it to Cancelling), so that
   * its next flow state is not refused as stale.
   */
  adopt(version: number): void;
  /** The error that made it stop writing, if any. */
  readonly error: Error | undefined;
}

/** The key of one task run: slug plus map index. */
export function taskRunKey(slug: string, mapIndex: number | undefined): string {
  return mapIndex === undefined ? slug : `${slug}[${mapIndex}]`;
}

const LEVEL_RANK = { debug: 0, info: 1, warn: 2, error: 3 } as const;

type Op =
  | { kind: "tasks"; writes: TaskRunStateWrite[]; shrunk?: boolean | undefined }
  | { kind: "logs"; records: LogRecord[] }
  | { kind: "flow"; state: SerializedState; shrunk?: boolean };

/** Ops sent together in one request at most (`writeInOrder`). */
const MAX_GROUP = 64;

/** How long a message stays in a state the server refused and that is sent again shrunk. */
const SHRUNK_MESSAGE_LIMIT = 2048;

/** A write the server refuses for what it holds (size, validation): sent as is, it fails again. */
function refusedForContent(error: Error): boolean {
  const code = isWeftError(error) ? error.code : undefined;
  const status = (error as { status?: unknown }).status;
  return (
    code === "BODY_TOO_LARGE" || code === "INVALID_REQUEST" || status === 413 || status === 400
  );
}

/**
 * Reports a flow run to the server: task states and logs in batches, flow
 * states as barriers (every earlier task state is written before the run's
 * final state), all in order, each write retried with backoff while the server
 * is unreachable. Writes carry row versions, so a batch retried after the
 * server applied it is recognised and not applied twice. A write the server
 * refuses for its size or content (413, 400) never stops reporting: a batch is
 * split until the refused state is alone, which is sent again shrunk, then
 * dropped with a warning (later versions of its task run closing the gap).
 */
export function createApiReporter(options: ApiReporterOptions): ApiReporter {
  const maxBatch = options.maxBatch ?? 2000;
  const flushMs = options.flushIntervalMs ?? 100;
  const minLevel = LEVEL_RANK[options.logLevel ?? "info"];
  const versions = new Map(options.taskRunVersions ?? []);
  const succeeded = options.succeededTaskRuns ?? new Set<string>();
  let flowVersion = options.flowRunVersion;
  let tasks: TaskRunStateWrite[] = [];
  let logs: LogRecord[] = [];
  const ops: Op[] = [];
  let timer: NodeJS.Timeout | undefined;
  let pumping: Promise<void> | undefined;
  let stopped: Error | undefined;
  let closed = false;

  const seal = () => {
    if (tasks.length > 0) ops.push({ kind: "tasks", writes: tasks });
    if (logs.length > 0) ops.push({ kind: "logs", records: logs });
    tasks = [];
    logs = [];
  };
  const schedule = () => {
    if (timer === undefined && !closed) {
      timer = setTimeout(() => {
        timer = undefined;
        seal();
        void kick();
      }, flushMs);
      timer.unref?.();
    }
  };
  const kick = (): Promise<void> => {
    pumping ??= pump().finally(() => {
      pumping = undefined;
      if (ops.length > 0) void kick();
    });
    return pumping;
  };

  async function pump(): Promise<void> {
    if (options.api.writeInOrder !== undefined) return pumpInOrder(options.api.writeInOrder);
    for (let op = ops.shift(); op !== undefined; op = ops.shift()) {
      if (stopped !== undefined) continue;
      try {
        await retryTransient(() => send(op), {
          deadlineMs: options.retryDeadlineMs ?? 600_000,
          onRetry: (error, attempt, delay) =>
            options.logger?.warn(
              `the server did not take run ${options.flowRunId}'s ${op.kind} (try ${attempt}): ${(error as Error).message}; retrying in ${delay} ms`,
            ),
        });
      } catch (error) {
        handleFailure(op, error as Error);
      }
    }
  }

  /**
   * Sends every queued op in one request (see the header). Ops taken answer in order; at the
   * first refused one, the ops after it (skipped by the server) go back to the queue, and
   * the refusal is dealt with as a single write's would be.
   */
  async function pumpInOrder(writeInOrder: NonNullable<ReportingApi["writeInOrder"]>) {
    // Writes made in this turn of the event loop (a short run's whole life) go together.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (ops.length > 0) {
      if (stopped !== undefined) {
        ops.length = 0;
        return;
      }
      const group = ops.splice(0, MAX_GROUP);
      try {
        await retryTransient(() => sendInOrder(writeInOrder, group), {
          deadlineMs: options.retryDeadlineMs ?? 600_000,
          onRetry: (error, attempt, delay) =>
            options.logger?.warn(
              `the server did not take run ${options.flowRunId}'s ${group.map((o) => o.kind).join(", ")} (try ${attempt}): ${(error as Error).message}; retrying in ${delay} ms`,
            ),
        });
      } catch (error) {
        // Transient until the deadline: the first op not taken fails, the rest go back.
        const op = group.shift()!;
        ops.unshift(...group);
        handleFailure(op, error as Error);
      }
    }
  }

  /**
   * One request for `group`; removes from it the ops taken. A refused op is removed too and
   * handled, the skipped ones after it go back to the queue; a transient refusal throws
   * (retried with what is left).
   */
  async function sendInOrder(
    writeInOrder: NonNullable<ReportingApi["writeInOrder"]>,
    group: Op[],
  ): Promise<void> {
    let version = flowVersion;
    const writes = group.map((op): RunWrite => {
      if (op.kind === "tasks") return { kind: "taskRunStates", states: op.writes };
      if (op.kind === "logs")
        return { kind: "logs", logs: op.records as Extract<RunWrite, { kind: "logs" }>["logs"] };
      const write = { kind: "flowRunState" as const, flowRunId: options.flowRunId };
      return { ...write, state: op.state, version: version++ };
    });
    const results = await writeInOrder(writes);
    while (group.length > 0) {
      const op = group[0]!;
      const result = results.shift();
      if (result?.ok) {
        group.shift();
        if (op.kind === "flow") flowVersion = result.version ?? flowVersion + 1;
        continue;
      }
      const error =
        result === undefined
          ? new Error("the server answered fewer results than writes")
          : runWriteError(result);
      if (isTransient(error)) throw error;
      if (isWeftError(error) && error.code === "RUN_WRITE_SKIPPED") {
        // Another write of this run in the same batch was refused (not one of these): again.
        ops.unshift(...group.splice(0));
        return;
      }
      group.shift();
      // Not applied: they go again once the refusal is dealt with (which may queue before them).
      ops.unshift(...group.splice(0));
      handleFailure(op, error);
    }
  }

  async function send(op: Op): Promise<void> {
    switch (op.kind) {
      case "tasks":
        await options.api.setTaskRunStates(op.writes);
        return;
      case "logs":
        await options.api.ingestLogs(op.records);
        return;
      case "flow": {
        const { version } = await options.api.setFlowRunState(
          options.flowRunId,
          op.state,
          flowVersion,
        );
        flowVersion = version;
        return;
      }
    }
  }

  function handleFailure(op: Op, error: Error): void {
    const code = isWeftError(error) ? error.code : undefined;
    const lost = code === "STALE_VERSION" || code === "INVALID_TRANSITION";
    if (lost) {
      stopped = error;
      options.logger?.error(
        `run ${options.flowRunId} is no longer this process's to report (${error.message}); stopping`,
      );
      options.onLost?.(error);
      return;
    }
    if (op.kind === "logs") {
      options.logger?.warn(
        `dropped ${op.records.length} log lines of run ${options.flowRunId}: ${error.message}`,
      );
      return;
    }
    // Refused for its size or content: the same write would be refused again, but reporting
    // goes on (heartbeats, later states, the final state) with the write split, shrunk or dropped.
    if (refusedForContent(error)) {
      refused(op, error);
      return;
    }
    // A state the server will not take, now or after retrying: later states would be refused too.
    stopped = error;
    options.logger?.error(`stopped reporting run ${options.flowRunId}: ${error.message}`);
  }

  function refused(op: Extract<Op, { kind: "tasks" | "flow" }>, error: Error): void {
    const why = brief(error.message);
    if (op.kind === "flow") {
      if (!op.shrunk) {
        options.logger?.warn(
          `the server refused run ${options.flowRunId}'s ${op.state.type} state (${why}); sending it again without its error details`,
        );
        ops.unshift({ kind: "flow", state: shrink(op.state), shrunk: true });
      } else {
        options.logger?.error(
          `the server refused run ${options.flowRunId}'s ${op.state.type} state even shrunk (${why}); it is not recorded, reporting goes on`,
        );
      }
      return;
    }
    if (op.writes.length > 1) {
      // Halves, until the writes the server refuses are alone: the others go through.
      const half = Math.ceil(op.writes.length / 2);
      ops.unshift(
        { kind: "tasks", writes: op.writes.slice(0, half), shrunk: op.shrunk },
        { kind: "tasks", writes: op.writes.slice(half), shrunk: op.shrunk },
      );
      return;
    }
    const write = op.writes[0]!;
    const what = `task run ${taskRunKey(write.slug, write.mapIndex)}'s ${write.state.type} state`;
    if (!op.shrunk) {
      options.logger?.warn(
        `the server refused run ${options.flowRunId}'s ${what} (${why}); sending it again with its message cut to ${SHRUNK_MESSAGE_LIMIT} characters and no stack`,
      );
      ops.unshift({
        kind: "tasks",
        writes: [{ ...write, state: shrink(write.state) }],
        shrunk: true,
      });
      return;
    }
    options.logger?.error(
      `the server refused run ${options.flowRunId}'s ${what} even shrunk (${why}); it is dropped, reporting goes on`,
    );
    // Later writes of that task run count their versions without the dropped one.
    const key = taskRunKey(write.slug, write.mapIndex);
    const later = (w: TaskRunStateWrite) => {
      if (
        w.flowRunId === write.flowRunId &&
        taskRunKey(w.slug, w.mapIndex) === key &&
        w.version > write.version
      )
        w.version--;
    };
    for (const o of ops) if (o.kind === "tasks") o.writes.forEach(later);
    tasks.forEach(later);
    const next = versions.get(key);
    if (next !== undefined && next > write.version) versions.set(key, next - 1);
  }

  const wireTaskState = (
    _run: FlowRunInfo,
    task: TaskInfo,
    mapIndex: number | undefined,
    state: SerializedState,
  ) => {
    const key = taskRunKey(task.slug, mapIndex);
    if (stopped !== undefined || succeeded.has(key)) return;
    const version = versions.get(key) ?? 0;
    versions.set(key, version + 1);
    tasks.push({
      flowRunId: options.flowRunId,
      slug: task.slug,
      ...(mapIndex === undefined ? {} : { mapIndex }),
      state: bounded(state),
      version,
      ...(options.claim === undefined ? {} : { claim: options.claim }),
      ...(state.location === undefined ? {} : { resultRef: state.location }),
    });
    if (tasks.length >= maxBatch) {
      seal();
      void kick();
    } else schedule();
  };
  const wireFlowState = (_run: FlowRunInfo, state: SerializedState) => {
    if (stopped !== undefined) return;
    seal();
    ops.push({ kind: "flow", state: bounded(state) });
    void kick();
  };

  return {
    get error() {
      return stopped;
    },
    flowState: (run, state) => wireFlowState(run, stateToWire(state)),
    taskState: (run, task, mapIndex, state) =>
      wireTaskState(run, task, mapIndex, stateToWire(state)),
    wireFlowState,
    wireTaskState,
    log(record) {
      if (stopped !== undefined || LEVEL_RANK[record.level] < minLevel) return;
      logs.push(jsonSafe(record));
      if (logs.length >= maxBatch) {
        seal();
        void kick();
      } else schedule();
    },
    async flush() {
      clearTimeout(timer);
      timer = undefined;
      seal();
      while (ops.length > 0 || pumping !== undefined) await kick();
    },
    async close() {
      await this.flush();
      closed = true;
    },
    adopt(version) {
      if (version > flowVersion) flowVersion = version;
    },
  };
}

// A state's message may come from user code (a skip, a signal): cut like an error's.
function bounded(state: SerializedState): SerializedState {
  const message = state.message;
  if (message === undefined || message.length <= ERROR_TEXT_LIMIT) return state;
  return { ...state, message: truncateText(message) };
}

// A state the server refused, made as small as it can be while saying what happened.
function shrink(state: SerializedState): SerializedState {
  const cut = (text: string) => truncateText(text, SHRUNK_MESSAGE_LIMIT);
  const { error, ...rest } = state;
  return {
    ...rest,
    ...(state.message === undefined ? {} : { message: cut(state.message) }),
    ...(error === undefined
      ? {}
      : {
          error: {
            type: cut(error.type),
            message: cut(error.message),
            ...(error.code === undefined ? {} : { code: error.code }),
          },
        }),
  };
}

function brief(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

// Log fields come from user code: anything JSON cannot carry is replaced by its description.
function jsonSafe(record: LogRecord): LogRecord {
  if (record.fields === undefined) return record;
  try {
    return {
      ...record,
      fields: JSON.parse(JSON.stringify(record.fields)) as Record<string, unknown>,
    };
  } catch (error) {
    return { ...record, fields: { unserializable: (error as Error).message } };
  }
}
