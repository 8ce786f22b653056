// GraphWalk: one flow run's walk over its graph, in this process.
//
// Read this first. The graph (core/graph.ts) is a DAG of nodes 0..n-1
// (parameters, tasks, merges, mapped tasks), each a Ref that lists its
// upstream node indices (node.upstream). The downstream edges are stored once
// for the whole graph in CSR form (compressed sparse rows): node u's
// downstream nodes are graph.downTargets[downOffsets[u] .. downOffsets[u+1]),
// two Int32Arrays, so following a finished node's edges reads two typed arrays
// and allocates nothing.
//
// The walk is Kahn's algorithm. remaining[i] counts node i's upstreams that
// have not finished; nodes with none are queued at the start. When a node
// finishes (finish), each downstream's count drops, and a count that reaches 0
// appends that node to the ready queue. The queue is an Int32Array of n slots
// with a head and a tail: each node enters it exactly once, so it never grows
// or wraps, and queue[0..qHead) are exactly the nodes started so far. A node
// that ends Paused (manual_only, not approved) does not release its
// downstreams: they are never reached and read as Pending afterwards.
//
// The loop (loop) starts work while fewer than executor.maxInFlight task runs
// are in flight: first the next child of the oldest open map job, then the
// next ready node. Starting a node (startNode) ends it at once when it needs
// no task run: a parameter (its value); a node its upstreams rule out (the
// trigger is judged on a tally of the upstream states, upstream.ts: Skipped,
// TriggerFailed, or Paused; a resource's cleanup whose setup did not succeed,
// resource-cleanup.ts); a merge (the first branch not skipped). A mapped
// node opens a map job (map-jobs.ts): a cursor over its N children, which the
// loop starts one at a time, so children never pile up ahead of the
// concurrency limit; each child is judged on its own upstream (its trigger,
// its skip) and the node finishes, Mapped, with its last child. A branch on
// a mapped condition, and a merge of mapped branches, are judged child by
// child (mapped-branches.ts).
//
// Task runs go through TaskRunner.run, which answers a State at once when the
// body was synchronous and nothing asynchronous was needed (no cache, no
// result backend), else a Promise. settle() finishes a State inline: no
// promise, no closure, no microtask, so a chain of a million synchronous tasks
// runs inside one loop turn (yielding every ~25 ms so that timers still fire).
// A promise counts in flight until it settles, then finishes its node or child
// and wakes the loop.
//
// The walk stops when nothing is in flight, no map job has children left and
// the queue is empty; or at once on cancellation (the run's AbortSignal),
// which also aborts the signal task bodies see: results that arrive later are
// dropped, and every node or started child without a state ends Cancelled. An
// error from the executor or the task runner (not a task's failure, which is a
// Failed state) is a crash: it cancels the walk and the run ends Failed. Tasks
// whose promises can no longer settle (the event loop emptied while they were
// in flight, unsettled-watch.ts) end Failed and the walk goes on. Then the
// final state is decided from the states (final-state.ts). A resumed run reads
// an earlier run's results instead of running tasks again (resume.ts).
//
// Hot path (CONTRIBUTING): per task, the walk allocates only the argument
// array of a node with references and what the task runner allocates; no
// closure unless the body returns a promise or the run resumes. Measure with
// `npm run bench` before and after a change here.
import { randomUUID } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { EXECUTOR_SPECS } from "../../core/executor-spec.ts";
import type { Flow, FlowRun, RunOptions } from "../../core/flow.ts";
import { type FlowGraph, Ref, RefList } from "../../core/graph.ts";
import type { FlowRunInfo, LogRecord, Reporter } from "../../core/reporter.ts";
import type { ResultBackend } from "../../core/results.ts";
import { State } from "../../core/states.ts";
import type { UpstreamSummary } from "../../core/triggers.ts";
import { processCache } from "../cache.ts";
import type { Executor } from "../executors/executor.ts";
import type { RunScope } from "../task-host.ts";
import { type MaybePromise, TaskRunner } from "../task-runner.ts";
import { cancelUnfinished, decideFinalState } from "./final-state.ts";
import { FlowRunResult } from "./flow-run-result.ts";
import { flowStateHandling } from "./flow-state-handling.ts";
import {
  alignedUpstreams,
  childArgs,
  listlessArgument,
  type MapJob,
  type MapSource,
  mappedState,
  nothingToMap,
  openMapJob,
  recordChild,
  summarizeChild,
} from "./map-jobs.ts";
import { alignMappedConditions, mergeMapped, withMappedConditions } from "./mapped-branches.ts";
import { guardReporter } from "./reporter-guard.ts";
import { cleanupVerdict } from "./resource-cleanup.ts";
import { Resume } from "./resume.ts";
import { type Abandonable, watchUnsettled } from "./unsettled-watch.ts";
import { judge, judgeSkip, summarize } from "./upstream.ts";

/** Walks one flow run's graph: triggers, skips, mapping, dispatch to the executor, final state. */
export class GraphWalk<Out> implements Abandonable, MapSource {
  private readonly nodes: FlowGraph<Out>["nodes"];
  /** Every node's state once it finished (a mapped node's: Mapped, with its children's). */
  readonly states: (State | undefined)[];
  /** Per node: upstreams not finished yet (Kahn's in-degrees). */
  private readonly remaining: Int32Array;
  /** The ready queue: queue[qHead..qTail) are ready, queue[0..qHead) started. */
  private readonly queue: Int32Array;
  private qHead = 0;
  private qTail = 0;
  /** Map jobs in the order they opened; mapJobs[mapHead..] still have children to start. */
  private readonly mapJobs: MapJob[] = [];
  private mapHead = 0;
  /** The map job of each mapped node that opened one: its tally counts the node's children once. */
  private readonly jobOf = new Map<number, MapJob>();
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private cancelled = false;
  private paused = 0;
  /** Task runs (mapped children one by one) that ended in a failed state, counted as they end. */
  private failed = 0;
  private readonly controller = new AbortController();
  private readonly mappedResults = new Map<number, unknown[]>();
  /** Scratch tally, refilled for every task judged (see upstream.ts). */
  private readonly summary: UpstreamSummary = { total: 0, successful: 0, failed: 0, skipped: 0 };
  private readonly info: FlowRunInfo;
  private readonly reporter: Reporter | undefined;
  private readonly tasks: TaskRunner;
  private readonly approved: ReadonlySet<number>;
  private crash: unknown;
  /** Labels of tasks that never settled (see {@link abandonUnsettled}). */
  private readonly unsettled: string[] = [];
  /** Set when this run resumes an earlier one. */
  private readonly resume: Resume | undefined;
  /** Whether task bodies run in this thread, where their promises are watched (unsettled-watch.ts). */
  private readonly watchable: boolean;
  /** Ends the watch, once the walk has waited for a task's promise. */
  private unwatch: (() => void) | undefined;

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
    const results: ResultBackend | undefined = options.result ?? flow.options.result;
    // runFlow checked that a resumed run has a result backend (checkResumable).
    this.resume =
      options.resume === undefined
        ? undefined
        : new Resume(results!, flow.name, options.resume, this.info.id, this.reporter);
    this.approved = new Set((options.approve ?? []).map((slug) => graph.node(slug).index));
    const scope: RunScope = {
      info: this.info,
      signal: this.controller.signal,
      logSink,
      results,
      approved: this.approved.size === 0 ? undefined : this.approved,
      env: options.env,
    };
    this.tasks = new TaskRunner(scope, executor, this.reporter, processCache, options.taskGate);
    // Task bodies on other threads or machines keep this process busy (or are watched there).
    this.watchable = EXECUTOR_SPECS[executor.kind].capabilities.sameThread;
  }

  async run(): Promise<FlowRun<Out>> {
    const started = Date.now();
    const signal = this.options.signal;
    const onAbort = () => this.cancel();
    if (signal?.aborted) this.cancel();
    else signal?.addEventListener("abort", onAbort, { once: true });
    const handled = flowStateHandling(this.flow.options.onStateChange, this.info, this.reporter);
    let running = new State("Running", undefined, undefined, undefined, started);
    if (handled !== undefined) running = await handled.change(running);
    this.reporter?.flowState?.(this.info, running);
    // A flow state handler that answers another state for Running ends the run in it.
    if (running.type !== "Running") {
      signal?.removeEventListener("abort", onAbort);
      await this.reporter?.close?.();
      return new FlowRunResult(this.flow, this.graph, this.info, running, this.states, (i) =>
        this.resultOf(i),
      );
    }
    for (let i = 0; i < this.nodes.length; i++) {
      const up = this.nodes[i]!.upstream.length;
      this.remaining[i] = up;
      if (up === 0) this.queue[this.qTail++] = i;
    }
    try {
      await this.loop();
    } catch (error) {
      this.crash = error;
    } finally {
      this.unwatch?.();
      signal?.removeEventListener("abort", onAbort);
    }
    if (this.crash === undefined && this.cancelled)
      cancelUnfinished(this.nodes, this.states, this.mapJobs, this.reporter, this.info);
    let final = decideFinalState({
      started,
      crash: this.crash,
      cancelled: this.cancelled,
      unsettled: this.unsettled,
      nodes: this.nodes,
      states: this.states,
      referenceNodes: this.graph.referenceNodes,
      paused: this.paused,
      failed: this.failed,
      strict: (this.options.strict ?? this.flow.options.strict) === true,
    });
    if (handled !== undefined) final = await handled.change(final);
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
    // Started nodes without a state (mapped ones finish through their children) are in flight.
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

  /** A finished node's result; a mapped node's result is the array of its children's results. */
  resultOf(i: number): unknown {
    const state = this.states[i];
    if (state?.children === undefined) return state?.result;
    let results = this.mappedResults.get(i);
    if (results === undefined) {
      results = state.children.map((child) => child.result);
      this.mappedResults.set(i, results);
    }
    return results;
  }

  /** An argument with its references (alone or in a list) replaced by their results. */
  resolveValue(arg: unknown): unknown {
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
      // Only now can the event loop empty under the walk: tasks are in flight and it waits for them.
      // A run whose task bodies are all synchronous never gets here, and never adds the listener.
      if (this.unwatch === undefined && this.watchable) this.unwatch = watchUnsettled(this);
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
    summarize(this.summary, this.states, node.upstream, undefined, this.jobOf);
    const verdict =
      kind === "cleanup"
        ? cleanupVerdict(node, this.states)
        : judge(node, this.summary, this.approved);
    if (verdict !== undefined) {
      this.judged(i, verdict);
      return;
    }
    if (kind === "merge") {
      this.finish(i, this.merge(node));
      return;
    }
    const args = node.hasRefs ? this.resolveArgs(node.args) : node.args;
    if (this.resume === undefined) this.settle(this.tasks.run(node, undefined, args), i);
    else
      this.settle(
        this.resume.task(node, undefined, () => this.tasks.run(node, undefined, args)),
        i,
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

  /**
   * Opens mapped node `i`'s map job; its children are judged one by one
   * (startChild). First, a skipped unmapped upstream skips the node whole, and
   * manual_only or a mapped argument without a list judge it whole (map-jobs.ts).
   */
  private startMapped(i: number): void {
    const node = this.nodes[i]!;
    const startedAt = Date.now();
    // A merge takes its branches child by child and passes over a branch skipped whole.
    const listless = node.task.kind === "merge" ? undefined : listlessArgument(node, this.states);
    if (listless !== undefined) {
      summarize(this.summary, this.states, node.upstream, undefined, this.jobOf);
      const verdict = judge(node, this.summary, this.approved);
      const from = this.states[listless.index]!;
      this.judged(i, verdict ?? nothingToMap(node, listless, from, startedAt));
      return;
    }
    const aligned = alignedUpstreams(node, this.states);
    summarize(
      this.summary,
      this.states,
      node.upstream,
      withMappedConditions(node, this.nodes, this.states, aligned),
      this.jobOf,
    );
    // A merge is judged whole on its branches (each branch is one upstream); manual_only waits once.
    const whole =
      node.task.kind === "merge" || node.task.options.trigger === "manual_only"
        ? judge(node, this.summary, this.approved)
        : judgeSkip(node, this.summary);
    if (whole !== undefined) {
      this.judged(i, whole);
      return;
    }
    if (node.task.kind === "merge") {
      this.judged(i, mergeMapped(node, this.states, startedAt, this.reporter, this.info));
      return;
    }
    const job = openMapJob(node, this, this.summary, startedAt);
    if (job instanceof State) {
      this.judged(i, job);
      return;
    }
    const misaligned = alignMappedConditions(job, node, this.nodes, this.states);
    if (misaligned === undefined) {
      this.mapJobs.push(job);
      this.jobOf.set(i, job);
    } else this.judged(i, misaligned);
  }

  /** Starts the next child of `job`, judged on its own upstream (map-jobs.ts). */
  private startChild(job: MapJob): void {
    const c = job.next++;
    if (job.next === job.count) this.mapHead++;
    const node = this.nodes[job.index]!;
    summarizeChild(job, c, this.summary);
    const verdict = judge(node, this.summary, this.approved);
    if (verdict !== undefined) {
      if (node.task.options.onStateChange === undefined) this.childDone(job, c, verdict);
      else this.settle(this.tasks.judged(node, c, verdict), job.index, job, c);
      return;
    }
    const args = childArgs(job, c, this);
    if (this.resume === undefined) this.settle(this.tasks.run(node, c, args), job.index, job, c);
    else
      this.settle(
        this.resume.task(node, c, () => this.tasks.run(node, c, args)),
        job.index,
        job,
        c,
      );
  }

  private childDone(job: MapJob, c: number, state: State): void {
    if (state.type !== "Success" && state.isFailed()) this.failed++;
    const last = recordChild(job, c, state);
    this.reporter?.taskState?.(this.info, this.nodes[job.index]!, c, state);
    if (last) this.judged(job.index, mappedState(job));
  }

  /** Node `i` ends in `state` without a task run; a task with state handlers lets them see it first. */
  private judged(i: number, state: State): void {
    const node = this.nodes[i]!;
    if (node.task.options.onStateChange === undefined) this.finish(i, state);
    else this.settle(this.tasks.judged(node, undefined, state), i);
  }

  /** Node `i` ends in `state`: report it and release its downstreams (Kahn's step). */
  private finish(i: number, state: State): void {
    this.states[i] = state;
    if (state.type !== "Success" && state.isFailed()) this.failed++;
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
}
