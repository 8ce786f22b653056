import { randomUUID } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { WeftError } from "../core/errors.ts";
import type { Flow, FlowRun, Resolved, RunOptions } from "../core/flow.ts";
import { type FlowGraph, Ref, RefList, Unmapped } from "../core/graph.ts";
import { resolveParameters } from "../core/parameter.ts";
import type { FlowRunInfo, LogRecord, Reporter } from "../core/reporter.ts";
import { type ResultBackend, renderResultLocation } from "../core/results.ts";
import { State, toErrorData } from "../core/states.ts";
import { describeTriggerFailure, evaluateTrigger, type UpstreamSummary } from "../core/triggers.ts";
import { processCache } from "./cache.ts";
import { createExecutor } from "./executors/create-executor.ts";
import type { Executor } from "./executors/executor.ts";
import type { RunScope } from "./task-host.ts";
import { type MaybePromise, TaskRunner } from "./task-runner.ts";

/** A mapped node whose children are being dispatched. */
interface MapJob {
  readonly index: number;
  readonly count: number;
  next: number;
  done: number;
  readonly startedAt: number;
  /** Upstream counts that do not line up child by child (judged once for the parent). */
  readonly base: UpstreamSummary;
  /** Per argument: the list children index into, or undefined for a constant. */
  readonly lists: (readonly unknown[] | undefined)[];
  readonly consts: unknown[];
  /** Children states of mapped upstreams that line up with this node's children. */
  readonly aligned: (readonly State[])[];
  readonly childStates: State[];
}

/**
 * Runs whose task bodies run in this thread, watched for tasks that never
 * settle: when the event loop empties while such a run has tasks in flight,
 * nothing is left that could settle them (Node would end the process with
 * exit code 13 and no word), so they end Failed and the run finishes.
 */
const watched = new Set<{ abandonUnsettled(): void }>();

function onBeforeExit(): void {
  for (const run of watched) run.abandonUnsettled();
}

function watch(run: { abandonUnsettled(): void }): () => void {
  if (watched.size === 0) process.on("beforeExit", onBeforeExit);
  watched.add(run);
  return () => {
    watched.delete(run);
    if (watched.size === 0) process.off("beforeExit", onBeforeExit);
  };
}

/**
 * Runs a flow in this process: parameters, executor, reporter. Resolves with
 * the outcome even when the flow fails; rejects only for bad input.
 */
export async function runFlow<Out>(
  flow: Flow<Out>,
  options: RunOptions = {},
): Promise<FlowRun<Out>> {
  const graph = flow.graph;
  const parameters = resolveParameters(flow.name, graph.parameters, options.parameters);
  for (const slug of options.approve ?? []) graph.node(slug);
  if (options.resume !== undefined) {
    const results = options.result ?? flow.options.result;
    if (results === undefined || !results.template.includes("{flowRunId}")) {
      throw new WeftError(
        "RESULT_NOT_PERSISTED",
        `cannot resume run ${options.resume} of flow "${flow.name}": ${results === undefined ? "the flow has no result backend" : `its result template ${results.template} has no {flowRunId}`}`,
        {
          hint: "give the flow a result backend (flow option result, or --result-dir) so that runs persist their results",
        },
      );
    }
  }
  const executor = createExecutor(options.executor ?? flow.options.executor);
  try {
    await executor.start(flow as Flow<unknown>);
    return await new GraphRun(flow, graph, parameters, executor, options).run();
  } finally {
    await executor.close();
  }
}

/** Walks one flow run's graph: triggers, skips, mapping, dispatch to the executor, final state. */
class GraphRun<Out> {
  private readonly nodes: FlowGraph<Out>["nodes"];
  private readonly states: (State | undefined)[];
  private readonly remaining: Int32Array;
  private readonly queue: Int32Array;
  private qHead = 0;
  private qTail = 0;
  private readonly mapJobs: MapJob[] = [];
  private mapHead = 0;
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private cancelled = false;
  private paused = 0;
  private readonly controller = new AbortController();
  private readonly mappedResults = new Map<number, unknown[]>();
  private readonly summary: UpstreamSummary = { total: 0, successful: 0, failed: 0, skipped: 0 };
  private readonly info: FlowRunInfo;
  private readonly reporter: Reporter | undefined;
  private readonly tasks: TaskRunner;
  private readonly approved: ReadonlySet<number>;
  private crash: unknown;
  /** Labels of tasks that never settled (see {@link abandonUnsettled}). */
  private readonly unsettled: string[] = [];
  private readonly results: ResultBackend | undefined;
  private readonly resumeFrom: string | undefined;

  constructor(
    private readonly flow: Flow<Out>,
    private readonly graph: FlowGraph<Out>,
    private readonly parameters: Record<string, unknown>,
    private readonly executor: Executor,
    private readonly options: RunOptions,
  ) {
    const n = graph.nodes.length;
    this.nodes = graph.nodes;
    this.states = new Array(n);
    this.remaining = new Int32Array(n);
    this.queue = new Int32Array(n);
    this.info = {
      id: options.flowRunId ?? randomUUID(),
      flowName: flow.name,
      parameters,
      taskCount: n,
    };
    this.reporter =
      options.reporter === undefined ? undefined : guardReporter(options.reporter, options);
    const logSink: ((r: LogRecord) => void) | undefined = this.reporter?.log?.bind(this.reporter);
    this.results = options.result ?? flow.options.result;
    this.resumeFrom = options.resume;
    const scope: RunScope = {
      info: this.info,
      signal: this.controller.signal,
      logSink,
      results: this.results,
    };
    this.tasks = new TaskRunner(scope, executor, this.reporter, processCache);
    this.approved = new Set((options.approve ?? []).map((slug) => graph.node(slug).index));
  }

  async run(): Promise<FlowRun<Out>> {
    const started = Date.now();
    const signal = this.options.signal;
    const onAbort = () => this.cancel();
    if (signal?.aborted) this.cancel();
    else signal?.addEventListener("abort", onAbort, { once: true });
    this.reporter?.flowState?.(
      this.info,
      new State("Running", undefined, undefined, undefined, started),
    );
    for (let i = 0; i < this.nodes.length; i++) {
      const up = this.nodes[i]!.upstream.length;
      this.remaining[i] = up;
      if (up === 0) this.queue[this.qTail++] = i;
    }
    // Task bodies on other threads or machines keep this process busy (or are watched there).
    const inThread = this.executor.kind === "serial" || this.executor.kind === "concurrent";
    const unwatch = inThread ? watch(this) : undefined;
    try {
      await this.loop();
    } catch (error) {
      this.crash = error;
    } finally {
      unwatch?.();
      signal?.removeEventListener("abort", onAbort);
    }
    const final = this.finalState(started);
    this.reporter?.flowState?.(this.info, final);
    await this.reporter?.close?.();
    return new FlowRunResult(this.flow, this.graph, this.info, final, this.states, (i) =>
      this.resultOf(i),
    );
  }

  /**
   * Called when the event loop is empty: every task still in flight awaits
   * something that can no longer happen. Each ends Failed, saying so, and the
   * run goes on (downstream tasks, final state) as after any failure.
   */
  abandonUnsettled(): void {
    if (this.inFlight === 0 || this.cancelled) return;
    const stuck = (label: string) => {
      this.unsettled.push(label);
      const message = `task ${label} never settled: its promise neither resolved nor rejected and nothing is left that could settle it (the event loop is empty; give the task a timeout, or find the promise that is never resolved)`;
      return new State("Failed", message, undefined, { type: "NeverSettled", message });
    };
    for (let k = 0; k < this.qHead; k++) {
      const i = this.queue[k]!;
      if (this.states[i] !== undefined || this.nodes[i]!.mapped) continue;
      this.inFlight--;
      this.finish(i, stuck(this.nodes[i]!.slug));
    }
    for (const job of this.mapJobs) {
      if (this.states[job.index] !== undefined) continue;
      for (let c = 0; c < job.next; c++) {
        if (job.childStates[c] !== undefined) continue;
        this.inFlight--;
        this.childDone(job, c, stuck(`${this.nodes[job.index]!.slug}[${c}]`));
      }
    }
    this.wake?.();
  }

  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller.abort(new Error("the flow run was cancelled"));
    this.wake?.();
  }

  private async loop(): Promise<void> {
    let sinceCheck = 0;
    let lastYield = performance.now();
    for (;;) {
      while (this.inFlight < this.executor.maxInFlight && !this.cancelled) {
        if (this.mapHead < this.mapJobs.length) this.startChild(this.mapJobs[this.mapHead]!);
        else if (this.qHead < this.qTail) this.startNode(this.queue[this.qHead++]!);
        else break;
        // Long synchronous stretches yield now and then, so timers (progress, timeouts) still fire.
        if (++sinceCheck === 1024) {
          sinceCheck = 0;
          if (performance.now() - lastYield > 25) {
            await yieldToEventLoop();
            lastYield = performance.now();
          }
        }
      }
      if (this.cancelled) return;
      if (this.inFlight === 0 && this.mapHead === this.mapJobs.length && this.qHead === this.qTail)
        return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  /**
   * Finishes node `i` (or child `c` of `job`) with `result`: at once when it is a
   * state (no closure, no promise: the hot path), else when it settles, counting
   * it in flight meanwhile.
   */
  private settle(result: MaybePromise<State>, i: number, job?: MapJob, c = 0): void {
    if (!(result instanceof Promise)) {
      if (job === undefined) this.finish(i, result);
      else this.childDone(job, c, result);
      return;
    }
    this.inFlight++;
    result.then(
      (state) => {
        // Abandoned as never settled, after all (it cannot happen, but it must not count twice).
        if (
          this.unsettled.length > 0 &&
          (job === undefined ? this.states[i] : job.childStates[c]) !== undefined
        )
          return;
        this.inFlight--;
        if (!this.cancelled) {
          if (job === undefined) this.finish(i, state);
          else this.childDone(job, c, state);
        }
        this.wake?.();
      },
      (error: unknown) => {
        this.inFlight--;
        this.crash ??= error;
        this.cancel();
      },
    );
  }

  private startNode(i: number): void {
    const node = this.nodes[i]!;
    const kind = node.task.kind;
    if (kind === "parameter") {
      this.finish(
        i,
        new State("Success", undefined, this.parameters[node.task.name], undefined, Date.now(), 0),
      );
      return;
    }
    if (node.mapped) {
      this.startMapped(i);
      return;
    }
    this.summarize(node.upstream, undefined);
    const verdict = this.decide(i, this.summary);
    if (verdict !== undefined) {
      this.finish(i, verdict);
      return;
    }
    if (kind === "merge") {
      this.finish(i, this.merge(node));
      return;
    }
    const args = node.hasRefs ? this.resolveArgs(node.args) : node.args;
    if (this.resumeFrom === undefined) this.settle(this.tasks.run(node, undefined, args), i);
    else
      this.settle(
        this.resumed(node, undefined, () => this.tasks.run(node, undefined, args)),
        i,
      );
  }

  /**
   * For a resumed run: the task's result from the earlier run when it was
   * persisted (read back, and kept under this run's id too), else `run()`.
   * A result that is gone or unreadable means the task runs again, with a warning.
   */
  private resumed(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    run: () => MaybePromise<State>,
  ): MaybePromise<State> {
    const results = this.results!;
    if (node.task.kind !== "task") return run();
    const where = {
      flowName: this.flow.name,
      taskSlug: node.slug,
      taskName: node.task.name,
      mapIndex,
    };
    const earlier = renderResultLocation(results.template, {
      ...where,
      flowRunId: this.resumeFrom!,
    });
    const startedAt = Date.now();
    return results
      .exists(earlier)
      .then(async (found) => {
        if (!found) return run();
        let value: unknown;
        try {
          value = await results.read(earlier);
        } catch (error) {
          this.warn(
            node,
            mapIndex,
            `the result of run ${this.resumeFrom} at ${earlier} is unreadable, so the task runs again: ${toErrorData(error).message}`,
          );
          return run();
        }
        const location = await results.write(value, { ...where, flowRunId: this.info.id });
        return State.withResult(
          "Success",
          `resumed from run ${this.resumeFrom} (result at ${earlier})`,
          value,
          startedAt,
          0,
          location,
        );
      })
      .catch((error: unknown) => {
        this.warn(
          node,
          mapIndex,
          `resuming from run ${this.resumeFrom} failed, so the task runs again: ${toErrorData(error).message}`,
        );
        return run();
      });
  }

  private warn(node: Ref<unknown>, mapIndex: number | undefined, message: string): void {
    this.reporter?.log?.({
      level: "warn",
      message,
      time: Date.now(),
      flowRunId: this.info.id,
      taskSlug: node.slug,
      ...(mapIndex === undefined ? {} : { mapIndex }),
    });
  }

  /** Fills {@link summary} from upstream states (mapped upstreams count child by child). */
  private summarize(upstream: readonly number[], skip: ReadonlySet<number> | undefined): void {
    const s = this.summary;
    s.total = 0;
    s.successful = 0;
    s.failed = 0;
    s.skipped = 0;
    for (const u of upstream) {
      if (skip?.has(u)) continue;
      const state = this.states[u]!;
      if (state.children === undefined) count(s, state);
      else for (const child of state.children) count(s, child);
    }
  }

  /** The state a task ends in without running (skip, trigger, approval), or undefined to run it. */
  private decide(i: number, up: UpstreamSummary): State | undefined {
    const options = this.nodes[i]!.task.options;
    if (up.skipped > 0 && options.skipOnUpstreamSkip) {
      return new State("Skipped", "skipped because an upstream task was skipped");
    }
    const verdict = evaluateTrigger(options.trigger, up);
    if (verdict === "run") return undefined;
    if (verdict === "fail")
      return new State("TriggerFailed", describeTriggerFailure(options.trigger, up));
    if (this.approved.has(i)) return undefined;
    return new State(
      "Paused",
      `manual_only trigger: waiting for approval (run again with --approve ${this.nodes[i]!.slug})`,
    );
  }

  private merge(node: Ref<unknown>): State {
    for (const arg of node.args) {
      if (arg instanceof Ref && !this.states[arg.index]!.isSkipped()) {
        return new State(
          "Success",
          `merged from ${arg.slug}`,
          this.resultOf(arg.index),
          undefined,
          Date.now(),
          0,
        );
      }
    }
    return new State("Skipped", "every merged branch was skipped");
  }

  private resolveArgs(args: readonly unknown[]): unknown[] {
    const out = new Array<unknown>(args.length);
    for (let k = 0; k < args.length; k++) out[k] = this.resolveValue(args[k]);
    return out;
  }

  private resolveValue(arg: unknown): unknown {
    if (arg instanceof Ref) return this.resultOf(arg.index);
    if (arg instanceof RefList) {
      const items = arg.items;
      const out = new Array<unknown>(items.length);
      for (let j = 0; j < items.length; j++) {
        const item = items[j];
        out[j] = item instanceof Ref ? this.resultOf(item.index) : item;
      }
      return out;
    }
    return arg;
  }

  /** A finished node's result; a mapped node's result is the array of its children's results. */
  private resultOf(i: number): unknown {
    const state = this.states[i];
    if (state?.children === undefined) return state?.result;
    let results = this.mappedResults.get(i);
    if (results === undefined) {
      results = state.children.map((child) => child.result);
      this.mappedResults.set(i, results);
    }
    return results;
  }

  private startMapped(i: number): void {
    const node = this.nodes[i]!;
    const startedAt = Date.now();
    // Mapped upstreams whose children line up with ours are judged child by child.
    let alignedSet: Set<number> | undefined;
    for (const arg of node.args) {
      if (arg instanceof Ref && this.states[arg.index]!.children !== undefined) {
        alignedSet ??= new Set();
        alignedSet.add(arg.index);
      }
    }
    this.summarize(node.upstream, alignedSet);
    const verdict = this.decide(i, this.summary);
    if (verdict !== undefined) {
      this.finish(i, verdict);
      return;
    }
    const k = node.args.length;
    const lists = new Array<readonly unknown[] | undefined>(k);
    const consts = new Array<unknown>(k);
    const aligned: (readonly State[])[] = [];
    let length = -1;
    for (let p = 0; p < k; p++) {
      const arg = node.args[p];
      if (arg instanceof Unmapped) {
        consts[p] = this.resolveValue(arg.value);
        continue;
      }
      let list: unknown;
      if (arg instanceof Ref) {
        list = this.resultOf(arg.index);
        const children = this.states[arg.index]!.children;
        if (children !== undefined) aligned.push(children);
        if (!Array.isArray(list)) {
          const got = list === null ? "null" : typeof list;
          this.finish(
            i,
            failed(
              startedAt,
              `argument ${p} of ${node.task.name}.map() must be an array, but ${arg.slug} returned ${got}`,
            ),
          );
          return;
        }
      } else {
        list = arg instanceof RefList ? arg.items : arg;
      }
      const items = list as readonly unknown[];
      if (length !== -1 && items.length !== length) {
        this.finish(
          i,
          failed(
            startedAt,
            `the mapped arguments of ${node.task.name}.map() differ in length: ${length} and ${items.length} items (argument ${p})`,
          ),
        );
        return;
      }
      length = items.length;
      lists[p] = items;
    }
    if (length <= 0) {
      this.finish(
        i,
        new State(
          "Mapped",
          "mapped over 0 items",
          undefined,
          undefined,
          startedAt,
          0,
          undefined,
          [],
        ),
      );
      return;
    }
    const base = { ...this.summary };
    this.mapJobs.push({
      index: i,
      count: length,
      next: 0,
      done: 0,
      startedAt,
      base,
      lists,
      consts,
      aligned,
      childStates: new Array(length),
    });
  }

  private startChild(job: MapJob): void {
    const c = job.next++;
    if (job.next === job.count) this.mapHead++;
    const node = this.nodes[job.index]!;
    if (job.aligned.length > 0) {
      const s = this.summary;
      s.total = job.base.total;
      s.successful = job.base.successful;
      s.failed = job.base.failed;
      s.skipped = job.base.skipped;
      for (const children of job.aligned) count(s, children[c]!);
      const verdict = this.decide(job.index, this.summary);
      if (verdict !== undefined) {
        this.childDone(job, c, verdict);
        return;
      }
    }
    const k = job.lists.length;
    const args = new Array<unknown>(k);
    for (let p = 0; p < k; p++) {
      const list = job.lists[p];
      if (list === undefined) {
        args[p] = job.consts[p];
      } else {
        const item = list[c];
        args[p] = item instanceof Ref ? this.resultOf(item.index) : item;
      }
    }
    if (this.resumeFrom === undefined)
      this.settle(this.tasks.run(node, c, args), job.index, job, c);
    else
      this.settle(
        this.resumed(node, c, () => this.tasks.run(node, c, args)),
        job.index,
        job,
        c,
      );
  }

  private childDone(job: MapJob, c: number, state: State): void {
    job.childStates[c] = state;
    this.reporter?.taskState?.(this.info, this.nodes[job.index]!, c, state);
    if (++job.done < job.count) return;
    const s: UpstreamSummary = { total: 0, successful: 0, failed: 0, skipped: 0 };
    for (const child of job.childStates) count(s, child);
    const message = `${s.total} children: ${s.successful - s.skipped} succeeded, ${s.failed} failed, ${s.skipped} skipped`;
    this.finish(
      job.index,
      new State(
        "Mapped",
        message,
        undefined,
        undefined,
        job.startedAt,
        0,
        undefined,
        job.childStates,
      ),
    );
  }

  private finish(i: number, state: State): void {
    this.states[i] = state;
    this.reporter?.taskState?.(this.info, this.nodes[i]!, undefined, state);
    if (state.type === "Paused") {
      this.paused++;
      return;
    }
    const offsets = this.graph.downOffsets;
    const targets = this.graph.downTargets;
    for (let e = offsets[i]!, end = offsets[i + 1]!; e < end; e++) {
      const d = targets[e]!;
      if (--this.remaining[d]! === 0) this.queue[this.qTail++] = d;
    }
  }

  private finalState(started: number): State {
    if (this.crash !== undefined) {
      const error = toErrorData(this.crash);
      return new State("Failed", `the engine failed: ${error.message}`, undefined, error, started);
    }
    if (this.cancelled) {
      for (const job of this.mapJobs) {
        if (this.states[job.index] !== undefined) continue;
        const node = this.nodes[job.index]!;
        for (let c = 0; c < job.next; c++) {
          if (job.childStates[c] !== undefined) continue;
          const state = new State("Cancelled", "the flow run was cancelled");
          job.childStates[c] = state;
          this.reporter?.taskState?.(this.info, node, c, state);
        }
      }
      for (let i = 0; i < this.states.length; i++) {
        if (this.states[i] !== undefined) continue;
        const state = new State("Cancelled", "the flow run was cancelled");
        this.states[i] = state;
        this.reporter?.taskState?.(this.info, this.nodes[i]!, undefined, state);
      }
      return new State("Cancelled", "the flow run was cancelled", undefined, undefined, started);
    }
    if (this.unsettled.length > 0) {
      const n = this.unsettled.length;
      const shown = this.unsettled.slice(0, 5).join(", ") + (n > 5 ? ", …" : "");
      return new State(
        "Failed",
        `${n} ${n === 1 ? "task" : "tasks"} never settled: ${shown}`,
        undefined,
        undefined,
        started,
      );
    }
    const failedRefs: string[] = [];
    let waiting = 0;
    const refs = this.graph.referenceNodes;
    for (const r of refs) {
      const state = this.states[r];
      if (state === undefined || state.type === "Paused") waiting++;
      else if (state.isFailed() || state.children?.some((c) => c.isFailed()))
        failedRefs.push(this.nodes[r]!.slug);
    }
    if (failedRefs.length > 0) {
      const shown = failedRefs.slice(0, 5).join(", ") + (failedRefs.length > 5 ? ", …" : "");
      return new State(
        "Failed",
        `${failedRefs.length} of ${refs.length} reference tasks failed: ${shown}`,
        undefined,
        undefined,
        started,
      );
    }
    // The reference tasks decide the state (Prefect's rule), but a failure elsewhere is never hidden.
    const failed = this.failedTasks();
    if (failed.count > 0 && (this.options.strict ?? this.flow.options.strict) === true) {
      return new State(
        "Failed",
        `strict: ${failed.count} ${failed.count === 1 ? "task" : "tasks"} failed: ${failed.shown} (the reference tasks succeeded)`,
        undefined,
        undefined,
        started,
      );
    }
    if (waiting > 0 || this.paused > 0) {
      return new State(
        "Paused",
        `${this.paused} manual_only task(s) wait for approval`,
        undefined,
        undefined,
        started,
      );
    }
    return new State(
      "Success",
      failed.count === 0
        ? `all ${refs.length} reference tasks succeeded`
        : `all ${refs.length} reference tasks succeeded, but ${failed.count} other ${failed.count === 1 ? "task" : "tasks"} failed: ${failed.shown}`,
      undefined,
      undefined,
      started,
    );
  }

  /** How many task runs (mapped children one by one) ended Failed, and the first few of them. */
  private failedTasks(): { count: number; shown: string } {
    const names: string[] = [];
    let count = 0;
    for (let i = 0; i < this.states.length; i++) {
      const state = this.states[i];
      if (state === undefined) continue;
      if (state.children === undefined) {
        if (state.isFailed() && count++ < 5) names.push(this.nodes[i]!.slug);
        continue;
      }
      for (let c = 0; c < state.children.length; c++) {
        if (state.children[c]!.isFailed() && count++ < 5)
          names.push(`${this.nodes[i]!.slug}[${c}]`);
      }
    }
    return { count, shown: names.join(", ") + (count > 5 ? ", …" : "") };
  }
}

function count(s: UpstreamSummary, state: State): void {
  s.total++;
  if (state.isSuccessful()) {
    s.successful++;
    if (state.type === "Skipped") s.skipped++;
  } else if (state.isFailed()) {
    s.failed++;
  }
}

function failed(startedAt: number, message: string): State {
  return new State("Failed", message, undefined, { type: "MapError", message }, startedAt, 0);
}

/** Reporter errors must not break a run: the first one is logged, the reporter is then skipped. */
function guardReporter(reporter: Reporter, options: RunOptions): Reporter {
  let broken = false;
  const guard =
    <A extends unknown[]>(name: string, fn: ((...args: A) => void) | undefined) =>
    (...args: A) => {
      if (broken || fn === undefined) return;
      try {
        fn.apply(reporter, args);
      } catch (error) {
        broken = true;
        options.logger?.error(
          `reporter.${name} threw; the reporter is disabled for this run: ${toErrorData(error).message}`,
        );
      }
    };
  const guarded: Reporter = {};
  if (reporter.flowState) guarded.flowState = guard("flowState", reporter.flowState);
  if (reporter.taskState) guarded.taskState = guard("taskState", reporter.taskState);
  if (reporter.log) guarded.log = guard("log", reporter.log);
  if (reporter.close) {
    guarded.close = async () => {
      try {
        await reporter.close?.();
      } catch (error) {
        options.logger?.error(`reporter.close threw: ${toErrorData(error).message}`);
      }
    };
  }
  return guarded;
}

/** The outcome of a local flow run. */
class FlowRunResult<Out> implements FlowRun<Out> {
  private stateMap: Map<string, State> | undefined;

  constructor(
    private readonly flow: Flow<Out>,
    private readonly graph: FlowGraph<Out>,
    private readonly info: FlowRunInfo,
    readonly state: State,
    private readonly states: readonly (State | undefined)[],
    private readonly resultAt: (index: number) => unknown,
  ) {}

  get id(): string {
    return this.info.id;
  }
  get flowName(): string {
    return this.flow.name;
  }
  get parameters(): Readonly<Record<string, unknown>> {
    return this.info.parameters;
  }

  get taskStates(): ReadonlyMap<string, State> {
    if (this.stateMap === undefined) {
      const map = new Map<string, State>();
      for (const node of this.graph.nodes) map.set(node.slug, this.stateAt(node.index));
      this.stateMap = map;
    }
    return this.stateMap;
  }

  private stateAt(i: number): State {
    return this.states[i] ?? new State("Pending", "not run: an upstream task waits for approval");
  }

  private indexOf(ref: Ref<unknown> | string): number {
    if (typeof ref === "string") return this.graph.node(ref).index;
    if (this.graph.nodes[ref.index] !== ref) {
      throw new WeftError("UNKNOWN_TASK", `${ref.slug} is not a task of flow "${this.flow.name}"`);
    }
    return ref.index;
  }

  stateOf(ref: Ref<unknown> | string): State {
    return this.stateAt(this.indexOf(ref));
  }

  result<T>(ref: Ref<T> | string): T {
    const i = this.indexOf(ref as Ref<unknown> | string);
    const state = this.stateAt(i);
    if (!state.isSuccessful()) {
      const slug = this.graph.nodes[i]!.slug;
      throw new WeftError(
        "RESULT_UNAVAILABLE",
        `task ${slug} has no result: it ended ${state.type}${state.message ? ` (${state.message})` : ""}`,
      );
    }
    return this.resultAt(i) as T;
  }

  get outputs(): Resolved<Out> {
    const resolve = (value: unknown): unknown => {
      if (value instanceof Ref) {
        const i = this.indexOf(value);
        return this.stateAt(i).isSuccessful() ? this.resultAt(i) : undefined;
      }
      if (Array.isArray(value)) return value.map(resolve);
      if (
        value !== null &&
        typeof value === "object" &&
        Object.getPrototypeOf(value) === Object.prototype
      ) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
      }
      return value;
    };
    return resolve(this.graph.outputs) as Resolved<Out>;
  }
}

/** A loaded flow, ready to run in this process (what `storage.getRunner` returns). */
export interface FlowRunner {
  readonly flow: Flow<unknown>;
  run(options?: RunOptions): Promise<FlowRun<unknown>>;
}

/**
 * True when a run of `flow` can resume an earlier one: its results are
 * persisted under the run's id (a result backend whose template has {flowRunId}).
 */
export function canResume(flow: Flow<unknown>, result?: ResultBackend): boolean {
  const results = result ?? flow.options.result;
  return results?.template.includes("{flowRunId}") === true;
}

/** Wraps a loaded flow as a {@link FlowRunner}. */
export function createFlowRunner(flow: Flow<unknown>): FlowRunner {
  return { flow, run: (options) => runFlow(flow, options) };
}
