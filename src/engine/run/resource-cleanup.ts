// The one rule of resource managers (core/resource.ts) the walk applies: a
// cleanup task runs once every task of its block finished, whatever their
// states (its trigger is all_finished), but not when the resource was never
// made. Its first argument is the setup task.
import type { Ref } from "../../core/graph.ts";
import { State } from "../../core/states.ts";

/** Skipped when cleanup `node`'s setup did not succeed (or was skipped); else undefined: run it. */
export function cleanupVerdict(
  node: Ref<unknown>,
  states: readonly (State | undefined)[],
): State | undefined {
  const setup = node.args[0] as Ref<unknown>;
  const made = states[setup.index]!;
  if (made.isSuccessful() && !made.isSkipped()) return undefined;
  return new State(
    "Skipped",
    `resource setup ${setup.slug} ended ${made.type}: there is nothing to clean up`,
  );
}
