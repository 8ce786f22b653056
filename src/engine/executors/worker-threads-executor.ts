// The worker-threads executor: task bodies run in a pool of threads, in batches.
//
// Decisions:
// - Calls are queued as `invoke` is called and sent once per turn of the event loop
//   (a microtask): each thread gets a batch (at most BATCH calls, an even share of
//   what is queued) while it has fewer than 2 × BATCH calls outstanding, so that it
//   always has the next batch when it ends one; a thread still busy gets no batch of
//   fewer than MIN_BATCH calls (fewer, larger messages when few calls are ready at
//   once). One message carries a batch: its numbers in one Int32Array and every
//   call's arguments in one flat list (structured clone pays per object and per
//   string: an array per call and a slug per call cost more than the tasks), and
//   one message brings outcomes back (worker-threads-worker.ts).
// - The pool starts with the run (`start`): each thread imports the flow's module
//   while the walk begins, instead of when the first calls already wait for it; the
//   runner starts the executor before it builds the graph, so a run that builds it
//   has one thread boot meanwhile (how many more the graph needs is not known yet:
//   they start with the first call, not when the first wide level of calls queues).
// - A thread runs the calls it is given one after another, as it ran one call at a
//   time before batches: an async body holds its thread until it settles.
// - A thread does not build the flow's graph: it gets each task once (`TaskDef`:
//   name, a slug of it, its function's source) and finds the function among the
//   tasks its module defines at top level; only a task made inside the builder (or
//   a name several functions share) makes it build the graph and find it by slug.
// - Timeouts stay hard. A thread says when a timed call starts (after posting the
//   outcomes before it); when the call runs past its timeout, the thread is
//   terminated and replaced, the call ends TimedOut, and the calls queued behind it
//   on that thread (none of which started) are sent again to another thread.
// - A thread that dies (process.exit, an error outside any task) fails the call
//   it was running (shared memory says which) with WORKER_FAILED; the other calls
//   it held are sent again: those not started, and those that ended but whose
//   outcomes had not crossed (then run twice; a task's process.exit first posts the
//   outcomes before it, so that needs a hard crash). A call whose thread died while
//   running no call at all is sent again at most MAX_ORPHANED times (a thread that
//   cannot start must not loop forever).
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { WeftError } from "../../core/errors.ts";
import {
  type WorkerThreadsExecutorOptions,
  workerThreadsExecutorSpec,
} from "../../core/executor-spec.ts";
import type { Flow } from "../../core/flow.ts";
import type { Ref } from "../../core/graph.ts";
import { FROM_SOURCE, moduleUrl } from "../../core/package.ts";
import { moduleTaskFunction } from "../../core/task.ts";
import type { TaskSpec } from "../../core/task-options.ts";
import { failure, hostTask, type TaskOutcome, type TaskRunContext } from "../task-host.ts";
import { type Executor, type ExecutorKindEntry, TaskTimeout } from "./executor.ts";
import {
  CALL_FIELD,
  CALL_FIELDS,
  type CallExtra,
  type TaskDef,
  type WorkerReply,
  type WorkerRequest,
} from "./worker-threads-protocol.ts";

/** Calls per batch, at most. */
const BATCH = 256;
/** Calls a batch to a thread that is still busy needs at least (else they wait for more). */
const MIN_BATCH = 64;
/** Times a call is sent again after threads died running no call at all. */
const MAX_ORPHANED = 3;

interface Call {
  readonly id: number;
  readonly node: Ref<unknown>;
  /** Index of its task in `defs`. */
  readonly task: number;
  readonly args: readonly unknown[];
  readonly ctx: TaskRunContext;
  readonly resolve: (outcome: TaskOutcome) => void;
  orphaned: number;
}

/**
 * The calls sent to one thread and not answered, in the order the thread answers
 * them (it runs them one after another): answering the first is a shift, not a lookup.
 */
class Outstanding {
  private items: (Call | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(call: Call): void {
    this.items.push(call);
  }

  /** Removes call `id` (the first one, as the thread answers in order) and answers it. */
  take(id: number): Call | undefined {
    const first = this.items[this.head];
    if (first !== undefined && first.id === id) {
      this.items[this.head++] = undefined;
      if (this.head === this.items.length) {
        this.items.length = 0;
        this.head = 0;
      }
      return first;
    }
    const at = this.indexOf(id);
    return at === -1 ? undefined : this.items.splice(at, 1)[0];
  }

  find(id: number): Call | undefined {
    const at = this.indexOf(id);
    return at === -1 ? undefined : this.items[at];
  }

  /** Removes and returns every call, in order. */
  drain(): Call[] {
    const all = this.items.slice(this.head) as Call[];
    this.items = [];
    this.head = 0;
    return all;
  }

  private indexOf(id: number): number {
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]!.id === id) return i;
    return -1;
  }
}

interface PoolWorker {
  readonly worker: Worker;
  /** [0]: the id of the call whose body runs in the thread, 0 between calls. */
  readonly progress: Int32Array;
  /** Calls sent and not answered. */
  readonly calls: Outstanding;
  runSent: boolean;
  defsSent: number;
  timer: NodeJS.Timeout | undefined;
  /** The id of the call `timer` watches (0: none). */
  timed: number;
  gone: boolean;
}

/** The module a thread runs: dist/worker-threads-worker.js, or its source in the repository's tests. */
const WORKER_ENTRY = moduleUrl("engine/executors/worker-threads-worker");

// From source (the repository's tests), a thread first registers tsx for weft's own
// TypeScript; a built weft's thread needs no loader (flow files get theirs: user-modules.ts).
const SOURCE_BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
import(workerData.tsx).then((tsx) => { tsx.register(); return import(workerData.entry); });
`;

/**
 * Runs task bodies in a pool of worker threads, in batches (one message carries
 * many calls, one brings their outcomes back); a thread runs its calls one after
 * another. Each thread imports the flow's module and finds a task's function by
 * name (or by slug in the graph); inputs and outcomes cross by structured clone.
 * A timeout is hard: the thread running the task is terminated and replaced.
 */
export class WorkerThreadsExecutor implements Executor {
  readonly kind = "worker-threads";
  readonly hardTimeouts = true;
  readonly maxInFlight: number;
  private readonly maxWorkers: number;
  private readonly all: PoolWorker[] = [];
  /** Terminations of retired threads, awaited by close() so that no thread outlives the run. */
  private readonly terminating = new Set<Promise<number>>();
  private queue: Call[] = [];
  private queueHead = 0;
  private nextId = 1;
  private pumpScheduled = false;
  private readonly pumpNow = () => {
    this.pumpScheduled = false;
    this.pump();
  };
  private moduleUrl = "";
  /** The run's flow; its graph is built by the first call (see start). */
  private flow: Flow<unknown> | undefined;
  private flowName = "";
  private closed = false;
  /** The tasks sent to threads, and each one's index there. */
  private readonly defs: TaskDef[] = [];
  private readonly defIndex = new Map<TaskSpec, number>();
  /** The run's scope, as the first call gave it (one executor serves one run). */
  private run: TaskRunContext["scope"] | undefined;

  constructor(
    options: { maxWorkers?: number | undefined; maxConcurrency?: number | undefined } = {},
  ) {
    this.maxWorkers = options.maxWorkers ?? Math.max(1, availableParallelism());
    this.maxInFlight = options.maxConcurrency ?? 2 * BATCH * this.maxWorkers;
  }

  async start(flow: Flow<unknown>): Promise<void> {
    const url = flow.moduleUrl;
    if (url === undefined || !url.startsWith("file:")) {
      throw new WeftError(
        "INVALID_EXECUTOR",
        `flow "${flow.name}" cannot run on worker threads: the module that defines it is not a file (${url ?? "unknown"})`,
        { hint: "define the flow in a module file and export it; or use the concurrent executor" },
      );
    }
    this.moduleUrl = url;
    this.flow = flow;
    this.flowName = flow.name;
    // Threads start (and import the flow's module) now, not when the first calls wait for them.
    // Before the graph is built (which the runner does meanwhile) its size is unknown: one
    // thread starts, the others with the first call.
    if (flow.isBuilt) this.startPool();
    else this.spawn();
  }

  invoke(
    node: Ref<unknown>,
    args: readonly unknown[],
    ctx: TaskRunContext,
  ): TaskOutcome | Promise<TaskOutcome> {
    // Built-in nodes (conditions) are tiny closures: run them here.
    if (node.task.kind !== "task") return hostTask(ctx, node.task.fn, args);
    if (this.run === undefined) {
      this.run = ctx.scope;
      this.startPool();
    }
    const task = this.defIndex.get(node.task) ?? this.define(node);
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, node, task, args, ctx, resolve, orphaned: 0 });
      if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        queueMicrotask(this.pumpNow);
      }
    });
  }

  /** Starts threads up to the pool's size for the run's graph (built by now). */
  private startPool(): void {
    const wanted = Math.min(this.maxWorkers, this.flow!.graph.size);
    while (this.all.length < wanted) this.spawn();
  }

  /** Makes the def of a task the threads have not seen yet. */
  private define(node: Ref<unknown>): number {
    const spec = node.task;
    const build = moduleTaskFunction(spec.name) !== spec.fn;
    const index = this.defs.length;
    this.defs.push({
      name: spec.name,
      slug: node.slug,
      text: build ? "" : String(spec.fn),
      build,
      timed: spec.options.timeout !== undefined,
    });
    this.defIndex.set(spec, index);
    return index;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    queueMicrotask(this.pumpNow);
  }

  /** Hands queued calls to threads in batches, starting threads up to the pool size. */
  private pump(): void {
    if (this.closed) return;
    let queued = this.queue.length - this.queueHead;
    while (this.all.length < this.maxWorkers && this.all.length < queued) this.spawn();
    while (queued > 0) {
      // The threads that can take more, and the least loaded of them.
      let open = 0;
      let best: PoolWorker | undefined;
      for (const pw of this.all) {
        if (pw.calls.size >= 2 * BATCH) continue;
        open++;
        if (best === undefined || pw.calls.size < best.calls.size) best = pw;
      }
      if (best === undefined) break;
      const share = Math.ceil(queued / open);
      const n = Math.min(BATCH, share, 2 * BATCH - best.calls.size);
      // A busy thread gets no small batch: it answers soon, and the calls wait to go out with more.
      if (best.calls.size > 0 && n < MIN_BATCH) break;
      this.send(best, n);
      queued -= n;
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Sends the next `n` queued calls to `pw` as one batch. */
  private send(pw: PoolWorker, n: number): void {
    const from = this.queueHead;
    this.queueHead += n;
    if (!pw.runSent) {
      const info = this.run!.info;
      try {
        this.post(pw, { type: "run", flowRunId: info.id, parameters: info.parameters });
        pw.runSent = true;
      } catch (error) {
        // The run's parameters cannot cross: no call can run on a thread.
        const why = `the flow run's parameters cannot be cloned (${(error as Error).message})`;
        for (let k = from; k < from + n; k++) this.notCloneable(this.queue[k]!, why);
        return;
      }
    }
    if (pw.defsSent < this.defs.length) {
      this.post(pw, { type: "defs", from: pw.defsSent, defs: this.defs.slice(pw.defsSent) });
      pw.defsSent = this.defs.length;
    }
    if (this.postBatch(pw, from, n) === undefined) return;
    // Some call's inputs cannot be cloned: send them one by one to find which.
    for (let k = from; k < from + n; k++) {
      const problem = this.postBatch(pw, k, 1);
      if (problem !== undefined) this.notCloneable(this.queue[k]!, problem);
    }
  }

  private notCloneable(call: Call, why: string): void {
    call.resolve(
      failure(
        new WeftError(
          "VALUE_NOT_CLONEABLE",
          `the inputs of task ${call.node.slug} cannot be sent to a worker thread: ${why}`,
          { hint: "pass plain data between tasks on the worker-threads executor" },
        ),
      ),
    );
  }

  /** Posts calls `from` … `from + n - 1` of the queue to `pw`; why not, when they cannot be cloned. */
  private postBatch(pw: PoolWorker, from: number, n: number): string | undefined {
    const calls = new Int32Array(CALL_FIELDS * n);
    const args: unknown[] = [];
    let extras: (CallExtra | undefined)[] | undefined;
    for (let k = 0; k < n; k++) {
      const call = this.queue[from + k]!;
      const ctx = call.ctx;
      const at = CALL_FIELDS * k;
      calls[at + CALL_FIELD.id] = call.id;
      calls[at + CALL_FIELD.task] = call.task;
      calls[at + CALL_FIELD.ordinal] = call.node.ordinal;
      calls[at + CALL_FIELD.mapIndex] = ctx.mapIndex ?? -1;
      calls[at + CALL_FIELD.attempt] = ctx.attempt;
      calls[at + CALL_FIELD.argc] = call.args.length;
      for (let i = 0; i < call.args.length; i++) args.push(call.args[i]);
      if (ctx.loopCount !== 1 || ctx.approved) {
        extras ??= new Array<CallExtra | undefined>(n);
        extras[k] = {
          ...(ctx.loopCount === 1
            ? {}
            : { loop: { count: ctx.loopCount, result: ctx.loopResult } }),
          ...(ctx.approved ? { approved: true as const } : {}),
        };
      }
    }
    try {
      pw.worker.postMessage({ type: "batch", calls, args, extras } satisfies WorkerRequest);
    } catch (error) {
      return (error as Error).message;
    }
    // A busy thread keeps the process alive; an idle one must not.
    if (pw.calls.size === 0) pw.worker.ref();
    for (let k = 0; k < n; k++) pw.calls.push(this.queue[from + k]!);
    return undefined;
  }

  private post(pw: PoolWorker, message: WorkerRequest): void {
    pw.worker.postMessage(message);
  }

  private spawn(): PoolWorker {
    const progress = new Int32Array(new SharedArrayBuffer(4));
    const worker = FROM_SOURCE
      ? new Worker(SOURCE_BOOTSTRAP, {
          eval: true,
          workerData: { tsx: import.meta.resolve("tsx/esm/api"), entry: WORKER_ENTRY, progress },
          // The parent's loader flags (--import tsx) are not needed: the bootstrap registers tsx.
          execArgv: [],
          stderr: false,
        })
      : new Worker(new URL(WORKER_ENTRY), {
          workerData: { progress },
          execArgv: [],
          stderr: false,
        });
    const pw: PoolWorker = {
      worker,
      progress,
      calls: new Outstanding(),
      runSent: false,
      defsSent: 0,
      timer: undefined,
      timed: 0,
      gone: false,
    };
    this.all.push(pw);
    worker.on("message", (message: WorkerReply) => this.onMessage(pw, message));
    worker.on("error", (error) => this.onDeath(pw, `threw outside any task: ${error.message}`));
    worker.on("exit", (code) => this.onDeath(pw, `exited with code ${code}`));
    worker.unref();
    this.post(pw, { type: "load", moduleUrl: this.moduleUrl, flowName: this.flowName });
    return pw;
  }

  private onMessage(pw: PoolWorker, message: WorkerReply): void {
    if (pw.gone) return;
    if (message.type === "done") {
      const { ids, values, failedAt, failures } = message;
      let f = 0;
      for (let k = 0; k < ids.length; k++) {
        const failed = failedAt !== undefined && failedAt[f] === k;
        const call = pw.calls.take(ids[k]!);
        if (call !== undefined) {
          if (call.id === pw.timed) {
            clearTimeout(pw.timer);
            pw.timed = 0;
          }
          call.resolve(failed ? failures![f]! : { ok: true, value: values[k] });
        }
        if (failed) f++;
      }
      if (pw.calls.size === 0) pw.worker.unref();
      this.schedulePump();
    } else if (message.type === "started") {
      const call = pw.calls.find(message.id);
      if (call !== undefined) this.armTimeout(pw, call);
    } else if (message.type === "log") {
      this.run?.logSink?.(message.record);
    }
  }

  /** Starts the hard timeout of a timed call, which its thread says begins now. */
  private armTimeout(pw: PoolWorker, call: Call): void {
    const ms = call.node.task.options.timeout;
    if (ms === undefined) return;
    clearTimeout(pw.timer);
    pw.timed = call.id;
    pw.timer = setTimeout(() => {
      if (pw.gone || pw.calls.take(call.id) === undefined) return;
      this.retire(pw);
      this.requeue(pw, false);
      call.ctx.abort(new Error("hard timeout"));
      call.resolve(
        failure(new TaskTimeout(true, ms, "the worker thread running the task was terminated")),
      );
      this.schedulePump();
    }, ms);
  }

  private onDeath(pw: PoolWorker, how: string): void {
    if (pw.gone) return;
    this.retire(pw);
    if (this.closed) return;
    const running = pw.calls.take(Atomics.load(pw.progress, 0));
    if (running !== undefined) {
      running.resolve(
        failure(
          new WeftError(
            "WORKER_FAILED",
            `the worker thread running task ${running.node.slug} ${how}`,
          ),
        ),
      );
    }
    this.requeue(pw, running === undefined, how);
    this.schedulePump();
  }

  /**
   * Queues again the calls a retired thread held (in their order, ahead of the
   * queue); `orphaned` when it died running none, which a call survives MAX_ORPHANED times.
   */
  private requeue(pw: PoolWorker, orphaned: boolean, how = ""): void {
    if (pw.calls.size === 0) return;
    const again: Call[] = [];
    for (const call of pw.calls.drain()) {
      if (orphaned && ++call.orphaned > MAX_ORPHANED) {
        call.resolve(
          failure(
            new WeftError(
              "WORKER_FAILED",
              `task ${call.node.slug} could not run: ${MAX_ORPHANED + 1} worker threads died before it started (the last ${how})`,
            ),
          ),
        );
      } else again.push(call);
    }
    this.queue = again.concat(this.queue.slice(this.queueHead));
    this.queueHead = 0;
  }

  private retire(pw: PoolWorker): void {
    pw.gone = true;
    clearTimeout(pw.timer);
    pw.timer = undefined;
    const at = this.all.indexOf(pw);
    if (at !== -1) this.all.splice(at, 1);
    const done = pw.worker.terminate();
    this.terminating.add(done);
    void done.finally(() => this.terminating.delete(done));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const workers = this.all.splice(0);
    for (const pw of workers) {
      pw.gone = true;
      clearTimeout(pw.timer);
    }
    await Promise.all([...workers.map((pw) => pw.worker.terminate()), ...this.terminating]);
  }
}

/** The worker-threads executor kind. */
export const workerThreadsExecutorKind: ExecutorKindEntry<WorkerThreadsExecutorOptions> = {
  ...workerThreadsExecutorSpec,
  create: (options) =>
    new WorkerThreadsExecutor({
      maxWorkers: options.maxWorkers,
      maxConcurrency: options.maxConcurrency,
    }),
};
