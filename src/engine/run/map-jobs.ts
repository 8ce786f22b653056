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
// Every child is judged on its own upstream (Prefect's meaning): child c sees
// `base`, the tally of the upstreams whose children do not line up with ours
// (unmapped arguments, `after` refs, arrays of refs), counted once when the
// job opens, plus child c of each aligned upstream (a mapped upstream passed
// as a mapped argument: `double.map(inc.map(xs))`). The summary is one scratch
// object refilled per child, so judging costs no allocation unless the verdict
// is a state. Each child ends in its own state (N TriggerFailed children, not
// one TriggerFailed parent); the node itself ends Mapped.
//
// Before the job opens, the node is judged whole in three cases (startMapped
// in graph-walk.ts). A skipped upstream among the unmapped ones skips the
// node whole (Prefect does the same, and `when` relies on it: a mapped task in
// a branch not taken is Skipped, so `merge` passes over it). manual_only waits
// for one approval of the task's slug. And a mapped argument whose upstream
// has no list to give (it ended Failed, TriggerFailed or Skipped as a whole)
// leaves no count of children to judge: the node is judged on every upstream
// state, and if its trigger still lets it run (any_failed, all_finished) it
// ends Failed, as there is nothing to map over (Prefect: "No upstream states
// can be mapped over").
//
// Invariants: 0 <= done <= next <= count; the job is finished (mappedState)
// exactly when done === count, and only then does the node get its state.
// childStates[c] is set once, when child c finishes (recordChild, which also
// counts it into the job's tally, so neither the Mapped state nor a downstream
// judged on it walks the children again) or is cancelled.
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
  /** Upstream counts that do not line up child by child (a part of every child's summary). */
  readonly base: UpstreamSummary;
  /** Per argument: the list children index into, or undefined for a constant. */
  readonly lists: (readonly unknown[] | undefined)[];
  readonly consts: unknown[];
  /** Children states of mapped upstreams that line up with this node's children. */
  readonly aligned: (readonly State[])[];
  readonly childStates: State[];
  /** The finished children, counted as they finish (see {@link recordChild}). */
  readonly tally: UpstreamSummary;
  /** How many finished children are Paused. */
  paused: number;
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
 * The mapped upstreams of `node` passed as its mapped arguments (or as the
 * list of `mapAfter`): their children line
 * up with `node`'s and are judged child by child, so the node's own verdict
 * leaves them out. Undefined when there are none.
 */
export function alignedUpstreams(
  node: Ref<unknown>,
  states: MapSource["states"],
): Set<number> | undefined {
  let aligned: Set<number> | undefined;
  const k = node.args.length;
  for (let p = 0; p <= k; p++) {
    const arg = p < k ? node.args[p] : node.mapOver;
    if (arg instanceof Ref && states[arg.index]!.children !== undefined) {
      aligned ??= new Set();
      aligned.add(arg.index);
    }
  }
  return aligned;
}

/**
 * The mapped argument of `node` whose upstream ended without a list to map
 * over (Failed, TriggerFailed or Skipped as a whole), or undefined when every
 * mapped argument has one (a successful result, or a Mapped upstream's children).
 */
export function listlessArgument(
  node: Ref<unknown>,
  states: MapSource["states"],
): Ref<unknown> | undefined {
  const k = node.args.length;
  for (let p = 0; p <= k; p++) {
    const arg = p < k ? node.args[p] : node.mapOver;
    if (!(arg instanceof Ref)) continue;
    const state = states[arg.index]!;
    if (state.children === undefined && (!state.isSuccessful() || state.isSkipped())) return arg;
  }
  return undefined;
}

/** The Failed state of a mapped node whose argument `from` left nothing to map over. */
export function nothingToMap(
  node: Ref<unknown>,
  from: Ref<unknown>,
  state: State,
  startedAt: number,
): State {
  return mapError(
    startedAt,
    `${node.task.name}.map() has nothing to map over: ${from.slug} ended ${state.type}${state.message === undefined ? "" : ` (${state.message})`}`,
  );
}

/**
 * Opens the job of mapped node `node` whose upstreams are finished. Answers the node's final state instead when
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
  // Position k, past the arguments, is mapAfter's list: it counts and lines up, and passes no data.
  for (let p = 0; p <= k; p++) {
    const arg = p < k ? node.args[p] : node.mapOver;
    if (p === k && arg === undefined) break;
    if (arg instanceof Unmapped) {
      consts[p] = source.resolveValue(arg.value);
      continue;
    }
    const what =
      p < k
        ? `argument ${p} of ${node.task.name}.map()`
        : `the list of ${node.task.name}.mapAfter()`;
    let list: unknown;
    if (arg instanceof Ref) {
      list = source.resultOf(arg.index);
      const children = source.states[arg.index]!.children;
      if (children !== undefined) aligned.push(children);
      if (!Array.isArray(list)) {
        const got = list === null ? "null" : typeof list;
        return mapError(startedAt, `${what} must be an array, but ${arg.slug} returned ${got}`);
      }
    } else {
      list = arg instanceof RefList ? arg.items : arg;
    }
    const items = list as readonly unknown[];
    if (length !== -1 && items.length !== length) {
      const which = p < k ? `argument ${p}` : "the mapAfter() list";
      return mapError(
        startedAt,
        `the mapped arguments of ${node.task.name}.map() differ in length: ${length} and ${items.length} items (${which})`,
      );
    }
    length = items.length;
    if (p < k) lists[p] = items;
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
    tally: { total: 0, successful: 0, failed: 0, skipped: 0 },
    paused: 0,
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

/** Child `c` of `job` finished in `state`: keeps and counts it; true when it was the last child. */
export function recordChild(job: MapJob, c: number, state: State): boolean {
  job.childStates[c] = state;
  countState(job.tally, state);
  if (state.type === "Paused") job.paused++;
  return ++job.done === job.count;
}

/** The mapped node's state once every child finished: Mapped, with the children's tally. */
export function mappedState(job: MapJob): State {
  const s = job.tally;
  const paused = job.paused;
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
