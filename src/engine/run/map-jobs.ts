// Map jobs: how a mapped node (`task.map(xs, …)`) becomes N child task runs.
//
// When a mapped node's upstreams have finished, the walk opens one MapJob for
// it (openMapJob): the argument lists are read once, checked once (each must be
// an array, all of the same length) and kept; nothing per child is built up
// front. The job is then a cursor: `next` is the next child to start, `done`
// counts finished children. The walk starts children one at a time from the
// oldest open job (startChild in graph-walk.ts), so a million children cost a
// million task runs, never a million pending closures or argument arrays.
//
// Triggers of a mapped node are judged in two layers. Upstreams whose
// children line up with ours (a mapped upstream passed as a mapped argument:
// `double.map(inc.map(xs))`) are judged child by child: child c sees only
// child c of each such upstream, on top of `base`, the summary of every other
// upstream, counted once when the job opens. A job without aligned upstreams
// was judged whole before it opened, so its children run without a check.
//
// Invariants: 0 <= done <= next <= count; the job is finished (mappedState)
// exactly when done === count, and only then does the node get its state.
// childStates[c] is set once, when child c finishes (or is cancelled).
import { Ref, RefList, Unmapped } from "../../core/graph.ts";
import { State } from "../../core/states.ts";
import type { UpstreamSummary } from "../../core/triggers.ts";
import { countState } from "./upstream.ts";

/** A mapped node whose children are being dispatched. */
export interface MapJob {
  readonly index: number;
  readonly count: number;
  /** The next child to start. */
  next: number;
  /** How many children finished. */
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

/** What opening a job and building a child's arguments read from the walk. */
export interface MapSource {
  readonly states: readonly (State | undefined)[];
  /** A finished node's result (a mapped node's: the array of its children's results). */
  resultOf(i: number): unknown;
  /** An argument with its references replaced by results. */
  resolveValue(arg: unknown): unknown;
}

/**
 * The mapped upstreams of `node` passed as its arguments: their children line
 * up with `node`'s and are judged child by child, so the node's own verdict
 * leaves them out. Undefined when there are none.
 */
export function alignedUpstreams(
  node: Ref<unknown>,
  states: MapSource["states"],
): Set<number> | undefined {
  let aligned: Set<number> | undefined;
  for (const arg of node.args) {
    if (arg instanceof Ref && states[arg.index]!.children !== undefined) {
      aligned ??= new Set();
      aligned.add(arg.index);
    }
  }
  return aligned;
}

/**
 * Opens the job of mapped node `node` whose upstreams are finished and whose
 * whole-node verdict let it run. Answers the node's final state instead when
 * there is nothing to dispatch: an argument that is not an array, lists of
 * different lengths (both Failed with a MapError), or no items (Mapped, no children).
 */
export function openMapJob(
  node: Ref<unknown>,
  source: MapSource,
  base: UpstreamSummary,
  startedAt: number,
): MapJob | State {
  const k = node.args.length;
  const lists = new Array<readonly unknown[] | undefined>(k);
  const consts = new Array<unknown>(k);
  const aligned: (readonly State[])[] = [];
  let length = -1;
  for (let p = 0; p < k; p++) {
    const arg = node.args[p];
    if (arg instanceof Unmapped) {
      consts[p] = source.resolveValue(arg.value);
      continue;
    }
    let list: unknown;
    if (arg instanceof Ref) {
      list = source.resultOf(arg.index);
      const children = source.states[arg.index]!.children;
      if (children !== undefined) aligned.push(children);
      if (!Array.isArray(list)) {
        const got = list === null ? "null" : typeof list;
        return mapError(
          startedAt,
          `argument ${p} of ${node.task.name}.map() must be an array, but ${arg.slug} returned ${got}`,
        );
      }
    } else {
      list = arg instanceof RefList ? arg.items : arg;
    }
    const items = list as readonly unknown[];
    if (length !== -1 && items.length !== length) {
      return mapError(
        startedAt,
        `the mapped arguments of ${node.task.name}.map() differ in length: ${length} and ${items.length} items (argument ${p})`,
      );
    }
    length = items.length;
    lists[p] = items;
  }
  if (length <= 0) {
    return new State(
      "Mapped",
      "mapped over 0 items",
      undefined,
      undefined,
      startedAt,
      0,
      undefined,
      [],
    );
  }
  return {
    index: node.index,
    count: length,
    next: 0,
    done: 0,
    startedAt,
    base: { ...base },
    lists,
    consts,
    aligned,
    childStates: new Array(length),
  };
}

/** Fills `into` with what child `c` of `job` is judged on: the job's base plus child c of each aligned upstream. */
export function summarizeChild(job: MapJob, c: number, into: UpstreamSummary): void {
  into.total = job.base.total;
  into.successful = job.base.successful;
  into.failed = job.base.failed;
  into.skipped = job.base.skipped;
  for (const children of job.aligned) countState(into, children[c]!);
}

/** Child `c`'s arguments: item c of each mapped list (a reference resolved), constants whole. */
export function childArgs(job: MapJob, c: number, source: MapSource): unknown[] {
  const k = job.lists.length;
  const args = new Array<unknown>(k);
  for (let p = 0; p < k; p++) {
    const list = job.lists[p];
    if (list === undefined) {
      args[p] = job.consts[p];
    } else {
      const item = list[c];
      args[p] = item instanceof Ref ? source.resultOf(item.index) : item;
    }
  }
  return args;
}

/** The mapped node's state once every child finished: Mapped, with the children's tally. */
export function mappedState(job: MapJob): State {
  const s: UpstreamSummary = { total: 0, successful: 0, failed: 0, skipped: 0 };
  let paused = 0;
  for (const child of job.childStates) {
    countState(s, child);
    if (child.type === "Paused") paused++;
  }
  const message = `${s.total} children: ${s.successful - s.skipped} succeeded, ${s.failed} failed, ${s.skipped} skipped${paused === 0 ? "" : `, ${paused} paused`}`;
  // A child waiting for approval holds the whole node (and so its downstreams) Paused.
  return new State(
    paused === 0 ? "Mapped" : "Paused",
    message,
    undefined,
    undefined,
    job.startedAt,
    0,
    undefined,
    job.childStates,
  );
}

function mapError(startedAt: number, message: string): State {
  return new State("Failed", message, undefined, { type: "MapError", message }, startedAt, 0);
}
