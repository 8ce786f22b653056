import { WeftError } from "./errors.ts";
import { checkTargetInFlow } from "./targets.ts";
import type { TaskSpec } from "./task-options.ts";

declare const REF_VALUE: unique symbol;

/**
 * A reference to the future result of a task inside a flow builder. Pass it
 * to other tasks to make an edge; call {@link Ref.after} to order without
 * passing data. A `Ref` is also the graph node itself (one object per task call),
 * which keeps a million-task flow small.
 */
export class Ref<T> {
  /** Phantom: the type of the result this reference stands for. */
  declare readonly [REF_VALUE]?: T;

  /**
   * @internal Upstream node indices, deduplicated (data edges and `after` edges).
   * Never mutated: nodes with the same single upstream may share one array
   * (a fan-out of a million tasks keeps one), so a change makes a new array.
   */
  upstream: number[];
  // The two below are own properties only on the nodes that have them (declared,
  // not initialized), so the common node is two fields smaller; others read undefined.
  /** @internal Node indices ordered with `after()`, no data passed. */
  declare afterEdges: number[] | undefined;
  /** @internal `task.mapAfter(over, …)`: the list (a ref, a RefList or an array) the children follow, no data passed. */
  declare mapOver: unknown;

  /** @internal */
  constructor(
    /** @internal The builder that owns this node. */
    readonly builder: GraphBuilder,
    /** @internal Position in the flow's node list (topological within data edges). */
    readonly index: number,
    /** @internal What runs. */
    readonly task: TaskSpec,
    /** @internal Arguments as given, with refs and arrays of refs encoded (see {@link RefList}). */
    readonly args: readonly unknown[],
    /** @internal One child run per item. */
    readonly mapped: boolean,
    /** @internal nth node of this task name in the flow (1-based); 0 for parameters. */
    readonly ordinal: number,
    upstream: number[],
    /** @internal Whether any argument holds a ref (else args are passed as they are). */
    readonly hasRefs: boolean,
  ) {
    this.upstream = upstream;
  }

  /** The stable id of this task in its flow, e.g. `extract-1`; a parameter's slug is its name. */
  get slug(): string {
    return slugOf(this.task.name, this.ordinal);
  }

  /** The task's name. */
  get name(): string {
    return this.task.name;
  }

  /**
   * Runs this task only after `refs` have finished (their results are not passed).
   * @example
   * const load = save(rows); load.after(createTable);
   */
  after(...refs: Ref<unknown>[]): this {
    if (this.builder.finished) {
      throw new WeftError(
        "FLOW_BUILD_FAILED",
        `${this.slug}.after() called after the flow "${this.builder.flowName}" was built`,
        { hint: "call .after() inside the flow builder function" },
      );
    }
    for (const ref of refs) {
      this.builder.checkRef(ref, `${this.slug}.after()`);
      if (ref.index === this.index) {
        throw new WeftError(
          "GRAPH_CYCLE",
          `${this.slug}.after(${this.slug}): a task cannot wait for itself`,
        );
      }
      // Upstream arrays may be shared between nodes (see `upstream`): replace, never push.
      if (this.upstream.length === 0) this.upstream = [ref.index];
      else if (!this.upstream.includes(ref.index)) this.upstream = [...this.upstream, ref.index];
      this.afterEdges ??= [];
      this.afterEdges.push(ref.index);
    }
    return this;
  }

  /** @internal */
  toString(): string {
    return `Ref(${this.slug})`;
  }
}

/** The slug of the `ordinal`th node of task `name` (1-based; 0 for a parameter, whose slug is its name). */
export function slugOf(name: string, ordinal: number): string {
  return ordinal === 0 ? name : `${name}-${ordinal}`;
}

/** An array argument that holds refs; resolved item by item at run time. */
export class RefList {
  constructor(readonly items: readonly unknown[]) {}
}

/** Wraps a mapped task's argument that every child receives whole. */
export class Unmapped<T> {
  /** Phantom type of the wrapped value. */
  declare readonly [REF_VALUE]?: T;
  constructor(readonly value: unknown) {}
}

/**
 * Marks an argument of `task.map(...)` as constant: every child gets the whole value.
 * @example
 * const totals = add.map(ys, unmapped(offset));
 */
export function unmapped<T>(value: Ref<T>): Unmapped<T>;
export function unmapped<T>(value: readonly (T | Ref<T>)[]): Unmapped<T[]>;
export function unmapped<T>(value: T): Unmapped<T>;
export function unmapped(value: unknown): Unmapped<unknown> {
  return new Unmapped(value);
}

/** One edge of the graph, as serialization and `weft graph` see it. */
export interface Edge {
  readonly upstream: string;
  readonly downstream: string;
  /** The argument position (0-based), or `"after"` for an ordering-only edge. */
  readonly key: number | "after";
  /** Whether the downstream task maps over this input. */
  readonly mapped: boolean;
}

/** A flow parameter's declaration. */
export interface ParameterSpec {
  readonly name: string;
  readonly defaultValue: unknown;
  readonly required: boolean;
  /** The JSON type that values must have (inferred from the default when not given). */
  readonly type: ParameterType | undefined;
  readonly description: string | undefined;
  readonly validate: ((value: unknown) => boolean | string) | undefined;
}

/** JSON types a parameter can declare. */
export const PARAMETER_TYPES = [
  "string",
  "number",
  "integer",
  "boolean",
  "object",
  "array",
] as const;
/** One of {@link PARAMETER_TYPES}. */
export type ParameterType = (typeof PARAMETER_TYPES)[number];

const EMPTY: number[] = [];

/** Collects the nodes of one flow while its builder function runs. */
export class GraphBuilder {
  readonly nodes: Ref<unknown>[] = [];
  readonly parameters = new Map<string, ParameterSpec>();
  private readonly ordinals = new Map<string, number>();
  finished = false;

  constructor(readonly flowName: string) {}

  /** Throws unless `ref` is a node of this graph. */
  checkRef(ref: unknown, where: string): asserts ref is Ref<unknown> {
    if (!(ref instanceof Ref)) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `${where}: expected a task reference, got ${typeof ref}`,
      );
    }
    if (ref.builder !== this) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `${where}: ${ref.slug} belongs to flow "${ref.builder.flowName}", not "${this.flowName}"`,
        { hint: "a reference can only be used inside the flow that created it" },
      );
    }
  }

  /**
   * Adds a node for a task call; encodes refs in `rawArgs` and records upstream
   * edges. This is the hot path of building: no closures, O(1) per reference.
   */
  add(
    task: TaskSpec,
    rawArgs: readonly unknown[],
    mapped: boolean,
    ordinal?: number,
    /** `task.mapAfter(over, …)`: a list the children follow without receiving it. */
    over?: unknown,
  ): Ref<unknown> {
    const index = this.nodes.length;
    if (index >= this.seen.length) {
      const grown = new Int32Array(this.seen.length * 2);
      grown.set(this.seen);
      this.seen = grown;
    }
    this.upstream = EMPTY;
    let hasRefs = false;
    let mappable = false;
    let args = rawArgs;
    for (let i = 0; i < rawArgs.length; i++) {
      const arg = rawArgs[i];
      if (arg instanceof Ref) {
        this.addUpstream(arg, index, task, mapped);
        hasRefs = true;
        mappable = true;
      } else if (arg instanceof Unmapped) {
        if (!mapped) {
          throw new WeftError(
            "INVALID_ARGUMENT",
            `${callName(task, mapped)}: unmapped() only makes sense in task.map()`,
          );
        }
        hasRefs = true;
        const inner = arg.value;
        if (inner instanceof Ref) this.addUpstream(inner, index, task, mapped);
        else if (Array.isArray(inner) && this.addUpstreamList(inner, index, task, mapped)) {
          if (args === rawArgs) args = rawArgs.slice();
          (args as unknown[])[i] = new Unmapped(new RefList(inner));
        }
      } else if (Array.isArray(arg)) {
        mappable = true;
        if (this.addUpstreamList(arg, index, task, mapped)) {
          if (args === rawArgs) args = rawArgs.slice();
          (args as unknown[])[i] = new RefList(arg);
          hasRefs = true;
        }
      } else if (mapped) {
        throw new WeftError(
          "INVALID_ARGUMENT",
          `${callName(task, mapped)}: argument ${i} must be an array, a reference to an array, or unmapped(value); got ${describe(arg)}`,
        );
      }
    }
    let mapOver: unknown;
    const dataUpstreams = this.upstream.length;
    if (over !== undefined) {
      mapOver = this.addOver(over, index, task);
      mappable = true;
    }
    if (mapped && !mappable) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `${callName(task, mapped)}: needs at least one argument to map over (an array or a reference to one)`,
      );
    }
    const n = ordinal ?? this.nextOrdinal(task.name);
    const node = new Ref<unknown>(this, index, task, args, mapped, n, this.upstream, hasRefs);
    if (mapOver !== undefined) {
      node.mapOver = mapOver;
      // Its refs order the children without passing data, as after() does.
      if (this.upstream.length > dataUpstreams)
        node.afterEdges = this.upstream.slice(dataUpstreams);
    }
    this.upstream = EMPTY;
    this.nodes.push(node);
    return node;
  }

  /** The list of `task.mapAfter(over)`, checked and encoded; its refs become upstreams. */
  private addOver(over: unknown, index: number, task: TaskSpec): unknown {
    const where = `${task.name}.mapAfter()`;
    if (over instanceof Ref) {
      this.addUpstream(over, index, task, true);
      return over;
    }
    if (!Array.isArray(over)) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `${where}: its first argument must be a mapped task's reference, a reference to an array, or an array; got ${describe(over)}`,
      );
    }
    return this.addUpstreamList(over, index, task, true) ? new RefList(over) : over;
  }

  /** Upstream list of the node being added (EMPTY until its first reference). */
  private upstream: number[] = EMPTY;
  /** seen[u] === node index + 1 when node u is already upstream of the node being added. */
  private seen = new Int32Array(1024);
  /**
   * The last single-upstream list made; the next node whose only upstream is the
   * same node shares it (a fan-out's million `[0]`s are one array). Never mutated.
   */
  private single: number[] | undefined = undefined;

  private addUpstream(ref: Ref<unknown>, index: number, task: TaskSpec, mapped: boolean): void {
    if (ref.builder !== this) this.checkRef(ref, `${callName(task, mapped)}`);
    const u = ref.index;
    if (this.seen[u] === index + 1) return;
    this.seen[u] = index + 1;
    const upstream = this.upstream;
    if (upstream === EMPTY) {
      const single = this.single;
      if (single !== undefined && single[0] === u) this.upstream = single;
      else this.upstream = this.single = [u];
    } else if (upstream === this.single) this.upstream = [upstream[0]!, u];
    else upstream.push(u);
  }

  /** Adds the refs of an array argument; true when it held any. */
  private addUpstreamList(
    list: readonly unknown[],
    index: number,
    task: TaskSpec,
    mapped: boolean,
  ): boolean {
    let any = false;
    for (let j = 0; j < list.length; j++) {
      const v = list[j];
      if (v instanceof Ref) {
        this.addUpstream(v, index, task, mapped);
        any = true;
      }
    }
    return any;
  }

  /** Refuses a parameter whose name is also a task's slug (`add-1`), which would hide one of them. */
  checkSlugs(): void {
    for (const name of this.parameters.keys()) {
      const match = /^(.*)-(\d+)$/.exec(name);
      if (match === null) continue;
      const count = this.ordinals.get(match[1]!) ?? 0;
      if (
        Number(match[2]) >= 1 &&
        Number(match[2]) <= count &&
        String(Number(match[2])) === match[2]
      ) {
        throw new WeftError(
          "DUPLICATE_SLUG",
          `flow "${this.flowName}": parameter "${name}" has the slug of task ${name}`,
          {
            hint: "rename the parameter; a parameter's slug is its name",
          },
        );
      }
    }
  }

  private nextOrdinal(name: string): number {
    const n = (this.ordinals.get(name) ?? 0) + 1;
    this.ordinals.set(name, n);
    return n;
  }
}

/** The refs in a list argument: the ref itself, or those among a RefList's items. */
function refsOf(list: unknown): Ref<unknown>[] {
  if (list instanceof Ref) return [list];
  if (list instanceof RefList) return list.items.filter((item) => item instanceof Ref);
  return [];
}

function callName(task: TaskSpec, mapped: boolean): string {
  return `${task.name}${mapped ? ".map" : ""}()`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return typeof value === "object"
    ? (value.constructor?.name ?? "an object")
    : `${typeof value} ${String(value)}`;
}

/**
 * A built flow graph: nodes in creation order, downstream adjacency in flat
 * arrays (CSR), the parameters, the reference tasks and what the builder returned.
 */
export class FlowGraph<Out = unknown> {
  /** Start of node i's downstream list in {@link downTargets}. */
  readonly downOffsets: Int32Array;
  /** Downstream node indices, grouped by upstream node. */
  readonly downTargets: Int32Array;
  /** Indices of the nodes that decide the flow's final state. */
  readonly referenceNodes: readonly number[];
  /** The first node whose task has a target (core/targets.ts), if any. */
  readonly firstTargeted: Ref<unknown> | undefined;
  private slugIndex: Map<string, number> | undefined;

  constructor(
    readonly flowName: string,
    readonly nodes: readonly Ref<unknown>[],
    readonly parameters: ReadonlyMap<string, ParameterSpec>,
    /** What the builder function returned. */
    readonly outputs: Out,
    referenceSlugs: readonly string[] | undefined,
  ) {
    const n = nodes.length;
    const counts = new Int32Array(n + 1);
    let edges = 0;
    let targeted: Ref<unknown> | undefined;
    for (const node of nodes) {
      for (const u of node.upstream) counts[u + 1]!++;
      edges += node.upstream.length;
      if (targeted === undefined && node.task.options.target !== undefined) targeted = node;
    }
    this.firstTargeted = targeted;
    for (let i = 0; i < n; i++) counts[i + 1]! += counts[i]!;
    const targets = new Int32Array(edges);
    const fill = counts.slice(0, n);
    for (const node of nodes) for (const u of node.upstream) targets[fill[u]!++] = node.index;
    this.downOffsets = counts;
    this.downTargets = targets;
    this.checkAcyclic();
    this.referenceNodes =
      referenceSlugs === undefined
        ? terminalNodes(nodes, counts, targets)
        : referenceSlugs.map((slug) => this.indexOf(slug, "referenceTasks"));
  }

  /** Number of task nodes (parameters included). */
  get size(): number {
    return this.nodes.length;
  }

  /** The node with this slug. Throws `UNKNOWN_TASK` (listing a few slugs) when there is none. */
  node(slug: string): Ref<unknown> {
    return this.nodes[this.indexOf(slug, "slug")]!;
  }

  /** True when the flow has a task with this slug. */
  has(slug: string): boolean {
    return this.slugs().has(slug);
  }

  private slugs(): Map<string, number> {
    if (this.slugIndex === undefined) {
      const map = new Map<string, number>();
      for (const node of this.nodes) {
        const slug = node.slug;
        if (map.has(slug)) {
          throw new WeftError(
            "DUPLICATE_SLUG",
            `flow "${this.flowName}": two tasks have the slug "${slug}"`,
            {
              hint: "a parameter's name must differ from every task slug",
            },
          );
        }
        map.set(slug, node.index);
      }
      this.slugIndex = map;
    }
    return this.slugIndex;
  }

  private indexOf(slug: string, what: string): number {
    const index = this.slugs().get(slug);
    if (index === undefined) {
      const known = [...this.slugs().keys()].slice(0, 10).join(", ");
      throw new WeftError(
        "UNKNOWN_TASK",
        `flow "${this.flowName}" has no task "${slug}" (${what})`,
        {
          hint: `known slugs: ${known}${this.nodes.length > 10 ? ", …" : ""}`,
        },
      );
    }
    return index;
  }

  /** Every edge, data edges first per node then `after` edges. */
  *edges(): Generator<Edge> {
    for (const node of this.nodes) {
      const down = node.slug;
      for (let key = 0; key < node.args.length; key++) {
        const arg = node.args[key];
        const isUnmapped = arg instanceof Unmapped;
        const inner = isUnmapped ? arg.value : arg;
        const mapped = node.mapped && !isUnmapped;
        const refs = inner instanceof Ref ? [inner] : inner instanceof RefList ? inner.items : [];
        for (const r of refs) {
          if (r instanceof Ref) yield { upstream: r.slug, downstream: down, key, mapped };
        }
      }
      const over = node.mapOver === undefined ? [] : refsOf(node.mapOver);
      for (const u of node.afterEdges ?? []) {
        const mapped = over.some((r) => r.index === u);
        yield { upstream: this.nodes[u]!.slug, downstream: down, key: "after", mapped };
      }
    }
  }

  /** Kahn's algorithm over the whole graph; names one cycle when there is one. */
  private checkAcyclic(): void {
    const n = this.nodes.length;
    const pending = new Int32Array(n);
    const queue = new Int32Array(n);
    let tail = 0;
    for (let i = 0; i < n; i++) {
      pending[i] = this.nodes[i]!.upstream.length;
      if (pending[i] === 0) queue[tail++] = i;
    }
    for (let head = 0; head < tail; head++) {
      const u = queue[head]!;
      for (let e = this.downOffsets[u]!; e < this.downOffsets[u + 1]!; e++) {
        const d = this.downTargets[e]!;
        if (--pending[d]! === 0) queue[tail++] = d;
      }
    }
    if (tail === n) return;
    // Walk upstream from a node left over until a node repeats: that loop is a cycle.
    let at = pending.findIndex((p) => p > 0);
    const seenAt = new Map<number, number>();
    const path: number[] = [];
    while (!seenAt.has(at)) {
      seenAt.set(at, path.length);
      path.push(at);
      at = this.nodes[at]!.upstream.find((u) => pending[u]! > 0)!;
    }
    const loop = path.slice(seenAt.get(at)).reverse();
    const names = [...loop, loop[0]!].map((i) => this.nodes[i]!.slug).join(" → ");
    throw new WeftError("GRAPH_CYCLE", `flow "${this.flowName}" has a cycle: ${names}`, {
      hint: "a cycle can only come from .after(); remove one of those orderings",
    });
  }
}

/**
 * The terminal nodes, the default reference tasks: those without downstream
 * tasks, a resource's cleanup aside (Prefect's rule: a task followed only by a
 * cleanup is terminal, and a cleanup never is).
 */
function terminalNodes(
  nodes: readonly Ref<unknown>[],
  offsets: Int32Array,
  targets: Int32Array,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < nodes.length; i++) {
    if (nodes[i]!.task.kind === "cleanup") continue;
    let terminal = true;
    for (let e = offsets[i]!, end = offsets[i + 1]!; e < end; e++) {
      if (nodes[targets[e]!]!.task.kind !== "cleanup") {
        terminal = false;
        break;
      }
    }
    if (terminal) out.push(i);
  }
  return out;
}

let active: GraphBuilder | undefined;

/** The builder of the flow being built right now, or undefined outside a flow builder. */
export function activeBuilder(): GraphBuilder | undefined {
  return active;
}

/** Runs `build` with a fresh builder active; the graph is frozen when it returns. */
export function buildGraph<Out>(
  flowName: string,
  build: () => Out,
  referenceTasks: ((outputs: Out) => readonly Ref<unknown>[]) | readonly string[] | undefined,
): FlowGraph<Out> {
  if (active !== undefined) {
    throw new WeftError(
      "NESTED_FLOW_BUILD",
      `flow "${flowName}" was built inside the builder of flow "${active.flowName}"`,
      { hint: "build flows at module level, not inside another flow's builder" },
    );
  }
  const builder: GraphBuilder = new GraphBuilder(flowName);
  active = builder;
  let outputs: Out;
  try {
    outputs = build();
  } finally {
    active = undefined;
    builder.finished = true;
  }
  builder.checkSlugs();
  for (const node of builder.nodes) {
    const target = node.task.options.target;
    if (typeof target === "string")
      checkTargetInFlow(flowName, node.slug, target, node.mapped, builder.parameters);
  }
  let referenceSlugs: readonly string[] | undefined;
  if (typeof referenceTasks === "function") {
    referenceSlugs = referenceTasks(outputs).map((ref) => {
      builder.checkRef(ref, `flow "${flowName}" referenceTasks`);
      return ref.slug;
    });
  } else {
    referenceSlugs = referenceTasks;
  }
  return new FlowGraph(flowName, builder.nodes, builder.parameters, outputs, referenceSlugs);
}
