// The composition root of a flow, the way Hono's `hono.ts` picks a router for a
// base class that knows none. `core` holds the model (graph, options, states,
// signals) and depends on nothing; the engine runs a model (`runFlow`) and
// serialization turns one into JSON (`serializeFlow`). Only here are the three
// put together: the public `flow()` returns a `Flow`, core's model (imported
// here as `FlowModel`) with `run` and `serialize` attached. Nothing in `src/<part>/` imports this module
// (.dependency-cruiser.cjs forbids it, as for src/index.ts), so a static reading
// of `flow.run()` reaches `runFlow` and no part installs itself into another.

import {
  callerModuleUrl,
  checkFlowDefinition,
  Flow as FlowModel,
  type FlowModelOptions,
  type FlowRun,
  isFlow as isFlowModel,
  type RunOptions,
} from "./core/flow.ts";
import { runFlow } from "./engine/flow-runner.ts";
import {
  type FlowDeploymentOptions,
  type SerializeOptions,
  serializeFlow,
} from "./serialization/flow-serializer.ts";

/** Options of a flow: the model's, and where its code is kept and how its runs execute. */
export interface FlowOptions<Out> extends FlowModelOptions<Out>, FlowDeploymentOptions {}

/** The serialized form of a flow (its schema is in `serialization/`). */
export type SerializedFlowJSON = { readonly schemaVersion: number; readonly name: string } & Record<
  string,
  unknown
>;

/**
 * A named, static graph of tasks that runs in this process and serializes
 * itself. The builder runs once, on first use, and always yields the same graph
 * and the same task slugs.
 */
export class Flow<Out = unknown> extends FlowModel<Out> {
  declare readonly options: Readonly<FlowOptions<Out>>;

  /**
   * The flow as versioned JSON: its graph, parameters, schedule and labels and,
   * with `build: true`, its storage (after `addFlow` and `build`), location and
   * environment. Without build the result is ready at once; with build it is a promise.
   */
  serialize(options?: SerializeOptions & { build?: false }): SerializedFlowJSON;
  serialize(options: SerializeOptions & { build: true }): Promise<SerializedFlowJSON>;
  serialize(options: SerializeOptions = {}): SerializedFlowJSON | Promise<SerializedFlowJSON> {
    return serializeFlow(this, options);
  }

  /**
   * Runs the flow in this process and resolves with its outcome (a failed flow
   * resolves too: look at `run.state`). Rejects only for bad input such as an
   * unknown parameter.
   */
  run(options: RunOptions = {}): Promise<FlowRun<Out>> {
    return runFlow(this, options);
  }
}

/**
 * Defines a flow: a name and a builder function that calls tasks.
 * @example
 * export const etl = flow("etl", () => {
 *   const rows = extract(parameter("path", "data/orders.csv"));
 *   return { report: report(transform(rows)) };
 * });
 */
export function flow<Out>(
  name: string,
  builder: () => Out,
  options: FlowOptions<Out> = {},
): Flow<Out> {
  checkFlowDefinition(name, builder, options);
  return new Flow(name, builder, Object.freeze({ ...options }), callerModuleUrl(flow));
}

/** True for a Flow made by any copy of weft. */
export function isFlow(value: unknown): value is Flow<unknown> {
  return isFlowModel(value);
}
