// The public API of weft: nothing outside this list is promised to users.
import "./engine/index.ts";
import "./serialization/index.ts";

export { merge, when } from "./core/conditions.ts";
export { context, type TaskContext } from "./core/context.ts";
export { type ErrorCode, isWeftError, WeftError } from "./core/errors.ts";
export type {
  ConcurrentExecutorOptions,
  ExecutorKind,
  ExecutorSpec,
  SerialExecutorOptions,
  WorkerThreadsExecutorOptions,
} from "./core/executor-spec.ts";
export {
  type Flow,
  type FlowOptions,
  type FlowRun,
  flow,
  isFlow,
  type Resolved,
  type RunOptions,
} from "./core/flow.ts";
export {
  type Edge,
  type FlowGraph,
  type ParameterSpec,
  type ParameterType,
  type Ref,
  type Unmapped,
  unmapped,
} from "./core/graph.ts";
export { type ParameterOptions, parameter } from "./core/parameter.ts";
export type {
  FlowRunInfo,
  Logger,
  LogLevel,
  LogRecord,
  Reporter,
  TaskInfo,
} from "./core/reporter.ts";
export { Fail, Skip } from "./core/signals.ts";
export { type ErrorData, STATE_TYPES, State, type StateType } from "./core/states.ts";
export { type AnyTask, type Input, type MapInput, type Task, task } from "./core/task.ts";
export type { TaskOptions } from "./core/task-options.ts";
export { TRIGGERS, type TriggerName } from "./core/triggers.ts";
export { runFlow } from "./engine/index.ts";
