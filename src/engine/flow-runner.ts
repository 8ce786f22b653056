// Running a flow in this process: the entry point (runFlow) composes one run
// (parameters checked, executor started and closed) and hands it to a
// GraphWalk, which walks the graph (run/graph-walk.ts explains the algorithm;
// read it first). The walk's parts: run/upstream.ts (judging a task by its
// upstreams), run/map-jobs.ts (mapped tasks), run/resume.ts (resuming an
// earlier run), run/final-state.ts (the run's final state),
// run/unsettled-watch.ts (tasks that never settle) and run/flow-run-result.ts
// (the outcome users read).
import { WeftError } from "../core/errors.ts";
import type { Flow, FlowRun, RunOptions } from "../core/flow.ts";
import { resolveParameters } from "../core/parameter.ts";
import { createExecutor } from "./executors/create-executor.ts";
import { GraphWalk } from "./run/graph-walk.ts";
import { checkResumable } from "./run/resume.ts";

export { canResume } from "./run/resume.ts";

/**
 * Runs a flow in this process: parameters, executor, reporter. Resolves with
 * the outcome even when the flow fails; rejects only for bad input.
 */
export async function runFlow<Out>(
  flow: Flow<Out>,
  options: RunOptions = {},
): Promise<FlowRun<Out>> {
  const executor = createExecutor(options.executor ?? flow.options.executor);
  // The executor starts before the graph is built: worker threads boot and import the
  // flow's module meanwhile. Its error, if any, comes after those of the flow's input.
  const started = executor.start(flow as Flow<unknown>);
  started.catch(() => {});
  try {
    const graph = flow.graph;
    const parameters = resolveParameters(flow.name, graph.parameters, options.parameters);
    for (const slug of options.approve ?? []) graph.node(slug);
    checkResumable(flow as Flow<unknown>, options);
    checkTargets(flow as Flow<unknown>, options);
    await started;
    return await new GraphWalk(flow, graph, parameters, executor, options).run();
  } finally {
    // Closing waits for the start to end, so that nothing it opens outlives the run.
    await started.catch(() => {});
    await executor.close();
  }
}

/** Refuses a run of a flow with targets (core/targets.ts) but no result backend to keep them in. */
function checkTargets(flow: Flow<unknown>, options: RunOptions): void {
  if ((options.result ?? flow.options.result) !== undefined) return;
  const node = flow.graph.firstTargeted;
  if (node !== undefined) {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `flow "${flow.name}": task ${node.slug} has a target, but the run has no result backend to look for it in`,
      {
        hint: "give the flow a result backend (flow(…, { result: createLocalResultBackend(…) })) or the run one (weft run --result-dir), or remove the target",
      },
    );
  }
}

/** A loaded flow, ready to run in this process (what `storage.getRunner` returns). */
export interface FlowRunner {
  readonly flow: Flow<unknown>;
  run(options?: RunOptions): Promise<FlowRun<unknown>>;
}

/** Wraps a loaded flow as a {@link FlowRunner}. */
export function createFlowRunner(flow: Flow<unknown>): FlowRunner {
  return { flow, run: (options) => runFlow(flow, options) };
}
