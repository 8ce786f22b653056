// Branching per mapped child (core/conditions.ts): when, ifElse and switchOn on
// a mapped reference make a mapped condition node whose child i ends Skipped
// when child i does not match; the branch's mapped entry tasks wait for it
// with an `after` edge. Here that edge is judged child by child, as a mapped
// argument is (map-jobs.ts): child c of the branch task sees child c of the
// condition. And merge of mapped branches merges child by child: child c takes
// child c of the first branch not skipped there.
//
// Both run once per mapped node (not per child), and only for nodes that have
// mapped conditions or are merges: the walk's hot path is unchanged.
import type { Ref } from "../../core/graph.ts";
import type { FlowRunInfo, Reporter } from "../../core/reporter.ts";
import { State } from "../../core/states.ts";
import type { MapJob } from "./map-jobs.ts";

/**
 * `aligned` (the node's upstreams judged child by child) plus the mapped
 * conditions `node` waits for with an `after` edge and that have children.
 */
export function withMappedConditions(
  node: Ref<unknown>,
  nodes: readonly Ref<unknown>[],
  states: readonly (State | undefined)[],
  aligned: Set<number> | undefined,
): Set<number> | undefined {
  const after = node.afterEdges;
  if (after === undefined) return aligned;
  for (const u of after) {
    if (isMappedCondition(nodes[u]!) && states[u]!.children !== undefined) {
      aligned ??= new Set();
      aligned.add(u);
    }
  }
  return aligned;
}

/**
 * Lines up the children of `node`'s mapped conditions with the children of
 * its job (so each child is judged on its own condition). A Failed state when
 * a condition has a different number of children.
 */
export function alignMappedConditions(
  job: MapJob,
  node: Ref<unknown>,
  nodes: readonly Ref<unknown>[],
  states: readonly (State | undefined)[],
): State | undefined {
  const after = node.afterEdges;
  if (after === undefined) return undefined;
  for (const u of after) {
    const children = states[u]!.children;
    if (!isMappedCondition(nodes[u]!) || children === undefined) continue;
    if (children.length !== job.count) {
      return mapError(
        job.startedAt,
        `${node.slug} maps over ${job.count} items but its branch condition ${nodes[u]!.slug} has ${children.length} children: a branch on a mapped task must map over the same items`,
      );
    }
    job.aligned.push(children);
  }
  return undefined;
}

/**
 * The state of a mapped merge: child c is child c of the first branch not
 * skipped there (Success with its result), TriggerFailed when a branch's child
 * c failed, Skipped when every branch skipped it. A branch that ended as a
 * whole (Skipped, say) stands for each of its children. Each child's state is
 * reported, as the walk reports mapped children.
 */
export function mergeMapped(
  node: Ref<unknown>,
  states: readonly (State | undefined)[],
  startedAt: number,
  reporter: Reporter | undefined,
  info: FlowRunInfo,
): State {
  const branches = node.args as readonly Ref<unknown>[];
  let count = -1;
  for (const branch of branches) {
    const children = states[branch.index]!.children;
    if (children === undefined) continue;
    if (count !== -1 && children.length !== count) {
      return mapError(
        startedAt,
        `merge of mapped branches: the branches have ${count} and ${children.length} children (${branch.slug}); mapped branches must map over the same items`,
      );
    }
    count = children.length;
  }
  if (count === -1) return new State("Skipped", "every merged branch was skipped");
  const children = new Array<State>(count);
  let merged = 0;
  let skipped = 0;
  let failed = 0;
  for (let c = 0; c < count; c++) {
    let state: State | undefined;
    for (const branch of branches) {
      const whole = states[branch.index]!;
      const child = whole.children?.[c] ?? whole;
      if (child.isSkipped()) continue;
      if (!child.isSuccessful()) {
        state = new State(
          "TriggerFailed",
          `branch ${branch.slug}[${c}] ended ${child.type}`,
          undefined,
          undefined,
          startedAt,
        );
        break;
      }
      state ??= State.withResult(
        "Success",
        `merged from ${branch.slug}[${c}]`,
        child.result,
        startedAt,
        0,
        undefined,
      );
    }
    state ??= new State("Skipped", "every merged branch was skipped");
    if (state.isSkipped()) skipped++;
    else if (state.isFailed()) failed++;
    else merged++;
    children[c] = state;
    reporter?.taskState?.(info, node, c, state);
  }
  return new State(
    "Mapped",
    `${count} children: ${merged} merged, ${failed} failed, ${skipped} skipped`,
    undefined,
    undefined,
    startedAt,
    0,
    undefined,
    children,
  );
}

function isMappedCondition(node: Ref<unknown>): boolean {
  return node.mapped && node.task.kind === "condition";
}

function mapError(startedAt: number, message: string): State {
  return new State("Failed", message, undefined, { type: "MapError", message }, startedAt, 0);
}
