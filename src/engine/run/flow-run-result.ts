// The outcome of a local flow run as users see it (FlowRun): the final state,
// every task's state, results and outputs, read from the walk's arrays after it
// stopped. A node never reached (behind a task that waits for approval) reads
// as Pending.
import { WeftError } from "../../core/errors.ts";
import type { Flow, FlowRun, Resolved } from "../../core/flow.ts";
import { type FlowGraph, Ref } from "../../core/graph.ts";
import type { FlowRunInfo } from "../../core/reporter.ts";
import { State } from "../../core/states.ts";

/** The outcome of a local flow run. */
export class FlowRunResult<Out> implements FlowRun<Out> {
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
