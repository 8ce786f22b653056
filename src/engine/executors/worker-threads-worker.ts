// The body of one worker thread of the worker-threads executor. It imports the
// flow's module (its own copy of weft, one runtime per thread) and runs the calls
// of each batch one after another through the task host, answering their outcomes
// in batches too.
//
// Decisions:
// - A task's function is found by name among the tasks the module defined at top
//   level (core/task.ts `moduleTaskFunction`), checked against the function's
//   source the executor sent: the thread never builds the flow's graph for that.
//   A task defined inside the flow builder (or one whose name several functions
//   share) is found by slug in the graph, which the thread then builds (once).
// - Outcomes go back at the end of each batch, before an async body is
//   awaited (so that the walk keeps going meanwhile), before a timed task starts
//   (so that a hard timeout, which terminates this thread, loses none) and before
//   `process.exit` in a task ends the thread.
// - `progress[0]` (shared memory) holds the id of the call whose body runs, 0
//   between calls: when the thread dies, the executor knows which call killed it.
import { parentPort, workerData } from "node:worker_threads";
import { WeftError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import { slugOf } from "../../core/graph.ts";
import type { LogRecord } from "../../core/reporter.ts";
import { toErrorData } from "../../core/states.ts";
import { moduleTaskFunction } from "../../core/task.ts";
import { loadFlowFromModule } from "../flow-loader.ts";
import {
  failure,
  hostTask,
  isPending,
  type TaskFailure,
  type TaskOutcome,
  TaskRunContext,
  type TaskScope,
} from "../task-host.ts";
import {
  CALL_FIELD,
  CALL_FIELDS,
  type TaskDef,
  type WorkerReply,
  type WorkerRequest,
} from "./worker-threads-protocol.ts";

const port = parentPort;
if (port === null) throw new Error("worker-threads-worker.ts must run in a worker thread");
const progress = (workerData as { progress: Int32Array }).progress;

type Fn = (...args: never[]) => unknown;
type Batch = Extract<WorkerRequest, { type: "batch" }>;

/** A task of the run as this thread knows it: its def, then its function once found. */
interface KnownTask {
  readonly def: TaskDef;
  fn: Fn | undefined;
  /** Why it could not be found (every call of it fails with this). */
  problem: unknown;
}

let moduleUrl = "";
let flowName = "";
let flow: Promise<Flow<unknown>> | undefined;
let scope: TaskScope | undefined;
const tasks: KnownTask[] = [];
const controller = new AbortController();
const logSink = (record: LogRecord) => post({ type: "log", record });

/** Messages not yet handled, in order (a batch waits while its tasks are being found). */
const inbox: WorkerRequest[] = [];
let draining = false;
/** Outcomes not yet posted. */
let doneIds: number[] = [];
let doneOutcomes: TaskOutcome[] = [];
/** Their nodes, for the message of an outcome that cannot be cloned. */
let doneNodes: CallNode[] = [];

function post(message: WorkerReply): void {
  port!.postMessage(message);
}

/** Posts the outcomes gathered so far; one that cannot be cloned fails its call instead. */
function flush(): void {
  if (doneIds.length === 0) return;
  const ids = doneIds;
  const outcomes = doneOutcomes;
  const nodes = doneNodes;
  doneIds = [];
  doneOutcomes = [];
  doneNodes = [];
  const values = new Array<unknown>(ids.length);
  let failedAt: number[] | undefined;
  let failures: TaskFailure[] | undefined;
  for (let k = 0; k < ids.length; k++) {
    const outcome = outcomes[k]!;
    if (outcome.ok) values[k] = outcome.value;
    else if (failedAt === undefined || failures === undefined) {
      failedAt = [k];
      failures = [outcome];
    } else {
      failedAt.push(k);
      failures.push(outcome);
    }
  }
  try {
    post({ type: "done", ids: Int32Array.from(ids), values, failedAt, failures });
  } catch {
    for (let k = 0; k < ids.length; k++) postOne(ids[k]!, outcomes[k]!, nodes[k]!.slug);
  }
}

function postOne(id: number, outcome: TaskOutcome, slug: string): void {
  try {
    post(
      outcome.ok
        ? {
            type: "done",
            ids: Int32Array.of(id),
            values: [outcome.value],
            failedAt: undefined,
            failures: undefined,
          }
        : {
            type: "done",
            ids: Int32Array.of(id),
            values: [undefined],
            failedAt: [0],
            failures: [outcome],
          },
    );
  } catch (error) {
    const notCloneable = new WeftError(
      "VALUE_NOT_CLONEABLE",
      `the result of task ${slug} cannot cross from its worker thread: ${toErrorData(error).message}`,
      {
        hint: "return plain data (objects, arrays, strings, numbers, Dates, Maps, typed arrays), not functions, class instances with methods or handles",
      },
    );
    post({
      type: "done",
      ids: Int32Array.of(id),
      values: [undefined],
      failedAt: [0],
      failures: [failure(notCloneable)],
    });
  }
}

// A task that ends the thread still lets the outcomes of the calls before it cross.
const exit = process.exit.bind(process);
process.exit = ((code?: number | string | null) => {
  flush();
  return exit(code as number | undefined);
}) as typeof process.exit;

function flowOf(): Promise<Flow<unknown>> {
  flow ??= loadFlowFromModule(moduleUrl, flowName);
  return flow;
}

/** Finds the functions of new tasks: by name after importing the module, else in the graph. */
async function learn(defs: readonly TaskDef[], from: number): Promise<void> {
  let loaded: Flow<unknown> | undefined;
  let problem: unknown;
  try {
    loaded = await flowOf();
  } catch (error) {
    problem = error;
  }
  for (let k = 0; k < defs.length; k++) {
    const def = defs[k]!;
    const known: KnownTask = { def, fn: undefined, problem };
    if (loaded !== undefined) {
      const byName = def.build ? undefined : moduleTaskFunction(def.name);
      if (byName !== undefined && String(byName) === def.text) known.fn = byName;
      else {
        try {
          known.fn = loaded.graph.node(def.slug).task.fn;
        } catch (error) {
          known.problem = error;
        }
      }
    }
    tasks[from + k] = known;
  }
}

function onMessage(message: WorkerRequest): void {
  inbox.push(message);
  if (!draining) void drain();
}

async function drain(): Promise<void> {
  draining = true;
  while (inbox.length > 0) {
    const message = inbox.shift()!;
    if (message.type === "load") {
      moduleUrl = message.moduleUrl;
      flowName = message.flowName;
      // Imported now, while the run starts: the first batch then finds it loaded.
      flowOf().catch(() => {});
    } else if (message.type === "run") {
      scope = {
        info: { id: message.flowRunId, flowName, parameters: message.parameters },
        signal: controller.signal,
        logSink,
        results: undefined,
      };
    } else if (message.type === "defs") {
      await learn(message.defs, message.from);
    } else {
      await runBatch(message);
    }
  }
  draining = false;
}

/** The node a call's context describes; its slug is made only when asked for. */
class CallNode {
  constructor(
    readonly task: TaskDef,
    private readonly ordinal: number,
  ) {}
  get slug(): string {
    return slugOf(this.task.name, this.ordinal);
  }
}

async function runBatch(batch: Batch): Promise<void> {
  const { calls, args, extras } = batch;
  const count = calls.length / CALL_FIELDS;
  let next = 0;
  for (let k = 0; k < count; k++) {
    const at = CALL_FIELDS * k;
    const id = calls[at + CALL_FIELD.id]!;
    const known = tasks[calls[at + CALL_FIELD.task]!]!;
    const node = new CallNode(known.def, calls[at + CALL_FIELD.ordinal]!);
    const argc = calls[at + CALL_FIELD.argc]!;
    const callArgs = args.slice(next, next + argc);
    next += argc;
    let out: TaskOutcome | Promise<TaskOutcome>;
    if (known.fn === undefined) out = failure(known.problem);
    else {
      if (known.def.timed) {
        flush();
        post({ type: "started", id });
      }
      const extra = extras?.[k];
      const mapIndex = calls[at + CALL_FIELD.mapIndex]!;
      const ctx = new TaskRunContext(
        scope!,
        node,
        mapIndex === -1 ? undefined : mapIndex,
        calls[at + CALL_FIELD.attempt]!,
        extra?.loop?.count ?? 1,
        extra?.loop?.result,
        extra?.approved === true,
      );
      Atomics.store(progress, 0, id);
      out = hostTask(ctx, known.fn, callArgs);
      if (isPending(out)) {
        flush();
        out = await out;
      }
      Atomics.store(progress, 0, 0);
    }
    doneIds.push(id);
    doneOutcomes.push(out);
    doneNodes.push(node);
  }
  flush();
}

port.on("message", onMessage);
