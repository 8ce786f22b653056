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
import { failure, hostTask, type TaskOutcome, type TaskRunContext } from "../task-host.ts";
import { type Executor, type ExecutorKindEntry, TaskTimeout } from "./executor.ts";
import type { WorkerReply, WorkerRequest } from "./worker-threads-protocol.ts";

interface Call {
  readonly id: number;
  readonly request: WorkerRequest & { type: "run" };
  readonly ctx: TaskRunContext;
  readonly timeout: number | undefined;
  readonly resolve: (outcome: TaskOutcome) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  call: Call | undefined;
  timer: NodeJS.Timeout | undefined;
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
 * Runs task bodies in a pool of worker threads, one task at a time per thread.
 * Each thread imports the flow's module, finds the task by slug and runs it
 * through the task host; inputs and the outcome cross by structured clone. A timeout is hard: the thread running the
 * task is terminated and replaced.
 */
export class WorkerThreadsExecutor implements Executor {
  readonly kind = "worker-threads";
  readonly hardTimeouts = true;
  readonly maxInFlight: number;
  private readonly maxWorkers: number;
  private readonly idle: PoolWorker[] = [];
  private readonly all = new Set<PoolWorker>();
  /** Terminations of retired threads, awaited by close() so that no thread outlives the run. */
  private readonly terminating = new Set<Promise<number>>();
  private readonly queue: Call[] = [];
  private queueHead = 0;
  private nextId = 1;
  private moduleUrl = "";
  private flowName = "";
  private closed = false;

  constructor(
    options: { maxWorkers?: number | undefined; maxConcurrency?: number | undefined } = {},
  ) {
    this.maxWorkers = options.maxWorkers ?? Math.max(1, availableParallelism());
    this.maxInFlight = options.maxConcurrency ?? 2 * this.maxWorkers;
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
    this.flowName = flow.name;
  }

  invoke(
    node: Ref<unknown>,
    args: readonly unknown[],
    ctx: TaskRunContext,
  ): TaskOutcome | Promise<TaskOutcome> {
    // Built-in nodes (conditions) are tiny closures: run them here.
    if (node.task.kind !== "task") return hostTask(ctx, node.task.fn, args);
    return new Promise((resolve) => {
      const id = this.nextId++;
      const request: Call["request"] = {
        type: "run",
        id,
        moduleUrl: this.moduleUrl,
        flowName: this.flowName,
        slug: node.slug,
        mapIndex: ctx.mapIndex,
        attempt: ctx.attempt,
        flowRunId: ctx.flowRunId,
        parameters: ctx.parameters,
        args,
        ...(ctx.loopCount === 1 ? {} : { loop: { count: ctx.loopCount, result: ctx.loopResult } }),
        ...(ctx.approved ? { approved: true as const } : {}),
      };
      this.queue.push({ id, request, ctx, timeout: node.task.options.timeout, resolve });
      this.pump();
    });
  }

  /** Hands queued calls to idle threads, starting threads up to the pool size. */
  private pump(): void {
    while (this.queueHead < this.queue.length) {
      let pw = this.idle.pop();
      if (pw === undefined) {
        if (this.all.size >= this.maxWorkers) return;
        pw = this.spawn();
      }
      const call = this.queue[this.queueHead++]!;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      this.send(pw, call);
    }
  }

  private send(pw: PoolWorker, call: Call): void {
    try {
      pw.worker.postMessage(call.request);
    } catch (error) {
      this.idle.push(pw);
      call.resolve(
        failure(
          new WeftError(
            "VALUE_NOT_CLONEABLE",
            `the inputs of task ${call.request.slug} cannot be sent to a worker thread: ${(error as Error).message}`,
            { hint: "pass plain data between tasks on the worker-threads executor" },
          ),
        ),
      );
      return;
    }
    pw.call = call;
    // A busy thread keeps the process alive; an idle one must not.
    pw.worker.ref();
  }

  /** Starts the hard timeout when the thread reports that the task body began. */
  private armTimeout(pw: PoolWorker, call: Call): void {
    if (call.timeout === undefined) return;
    const ms = call.timeout;
    pw.timer = setTimeout(() => {
      pw.call = undefined;
      this.retire(pw);
      call.ctx.abort(new Error("hard timeout"));
      call.resolve(
        failure(new TaskTimeout(true, ms, "the worker thread running the task was terminated")),
      );
      this.pump();
    }, ms);
  }

  private spawn(): PoolWorker {
    const worker = FROM_SOURCE
      ? new Worker(SOURCE_BOOTSTRAP, {
          eval: true,
          workerData: { tsx: import.meta.resolve("tsx/esm/api"), entry: WORKER_ENTRY },
          // The parent's loader flags (--import tsx) are not needed: the bootstrap registers tsx.
          execArgv: [],
          stderr: false,
        })
      : new Worker(new URL(WORKER_ENTRY), { execArgv: [], stderr: false });
    const pw: PoolWorker = { worker, call: undefined, timer: undefined, gone: false };
    this.all.add(pw);
    worker.on("message", (message: WorkerReply) => this.onMessage(pw, message));
    worker.on("error", (error) => this.onDeath(pw, `threw outside any task: ${error.message}`));
    worker.on("exit", (code) => this.onDeath(pw, `exited with code ${code}`));
    worker.unref();
    return pw;
  }

  private onMessage(pw: PoolWorker, message: WorkerReply): void {
    if (message.type === "log") {
      const call = pw.call;
      call?.ctx.scope.logSink?.(message.record);
      return;
    }
    if (message.type === "started") {
      if (pw.call?.id === message.id) this.armTimeout(pw, pw.call);
      return;
    }
    if (message.type !== "result") return;
    const call = pw.call;
    if (call === undefined || call.id !== message.id) return;
    clearTimeout(pw.timer);
    pw.call = undefined;
    pw.worker.unref();
    this.idle.push(pw);
    call.resolve(message.outcome);
    this.pump();
  }

  private onDeath(pw: PoolWorker, how: string): void {
    if (pw.gone) return;
    this.retire(pw);
    const call = pw.call;
    pw.call = undefined;
    if (call !== undefined && !this.closed) {
      call.resolve(
        failure(
          new WeftError(
            "WORKER_FAILED",
            `the worker thread running task ${call.request.slug} ${how}`,
          ),
        ),
      );
    }
    if (!this.closed) this.pump();
  }

  private retire(pw: PoolWorker): void {
    pw.gone = true;
    clearTimeout(pw.timer);
    this.all.delete(pw);
    const at = this.idle.indexOf(pw);
    if (at !== -1) this.idle.splice(at, 1);
    const done = pw.worker.terminate();
    this.terminating.add(done);
    void done.finally(() => this.terminating.delete(done));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const workers = [...this.all];
    for (const pw of workers) {
      pw.gone = true;
      clearTimeout(pw.timer);
    }
    this.all.clear();
    this.idle.length = 0;
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
