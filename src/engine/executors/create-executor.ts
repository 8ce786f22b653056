// Every executor kind weft ships, by `type`: its descriptor (core/executor-spec.ts:
// schema, capabilities, flags) with its constructor. Adding a kind is its descriptor,
// its implementation file and one line here.
import {
  EXECUTOR_SPECS,
  type ExecutorKind,
  type ExecutorSpec,
  notChosenByFlow,
  parseExecutorSpec,
} from "../../core/executor-spec.ts";
import { distributedExecutorKind } from "../distributed/distributed-executor.ts";
import type { Executor, ExecutorKindEntry } from "./executor.ts";
import { concurrentExecutorKind, serialExecutorKind } from "./in-process-executor.ts";
import { workerThreadsExecutorKind } from "./worker-threads-executor.ts";

/** A kind as the registry holds it: its constructor takes the options its own schema checked. */
type AnyKind = Omit<ExecutorKindEntry, "create"> & {
  readonly create: (options: never) => Executor;
};

const kinds = new Map<string, AnyKind>();
function register(kind: AnyKind): void {
  kinds.set(kind.type, kind);
}
register(serialExecutorKind);
register(concurrentExecutorKind);
register(workerThreadsExecutorKind);
register(distributedExecutorKind);

/** Makes the executor a spec names, validating its options against its kind's schema. */
export function createExecutor(spec: ExecutorSpec | undefined): Executor {
  // A kind a flow may not name by itself (distributed: its environment adds the origin).
  if (typeof spec === "string" && EXECUTOR_SPECS[spec]?.capabilities.chosenByFlow === false) {
    throw notChosenByFlow(spec);
  }
  const options = parseExecutorSpec(spec);
  const kind = kinds.get(options.type as ExecutorKind);
  if (kind === undefined) throw notChosenByFlow(options.type);
  return kind.create(options as never);
}
