// The public API of weft: nothing outside this list is promised to users.
// `flow()` comes from the composition root (src/flow.ts), which attaches the
// engine's run and serialization's serialize to core's flow model.

export {
  type ApiClient,
  type ApiClientOptions,
  ApiError,
  type ClaimOptions,
  createApiClient,
  type FollowOptions,
  type UnreadableClaim,
} from "./client/api-client.ts";
export {
  type ApiTaskGateOptions,
  createApiTaskGate,
  type TaskGateApi,
} from "./client/api-task-gate.ts";
export {
  type ChildFlowRun,
  type FlowRunApi,
  type StartFlowRun,
  type StartFlowRunOptions,
  startFlowRun,
} from "./client/flow-run-task.ts";
export {
  DEFAULT_BASE_IMAGE,
  ensureRuntimeImage,
  type ImageBuilder,
  RUNTIME_COMMAND,
  type RuntimeImageOptions,
} from "./containers/runtime-image.ts";
export {
  ifElse,
  merge,
  type SwitchCases,
  type SwitchOutputs,
  type SwitchValue,
  switchOn,
  when,
} from "./core/conditions.ts";
export { context, type LoopContext, type TaskContext } from "./core/context.ts";
export { type ErrorCode, isWeftError, WeftError } from "./core/errors.ts";
export type {
  ConcurrentExecutorOptions,
  DistributedExecutorOptions,
  ExecutorKind,
  ExecutorSpec,
  SerialExecutorOptions,
  WorkerThreadsExecutorOptions,
} from "./core/executor-spec.ts";
export type { FlowRun, Resolved, RunOptions } from "./core/flow.ts";
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
export {
  type Resource,
  type ResourceOptions,
  type ResourceUse,
  resource,
} from "./core/resource.ts";
export type { ResultBackend, ResultContext } from "./core/results.ts";
export {
  cron,
  dates,
  interval,
  type Schedule,
  type ScheduleBounds,
  type ScheduleType,
} from "./core/schedules.ts";
export {
  Fail,
  Loop,
  type LoopOptions,
  Pause,
  Retry,
  type RetryOptions,
  Skip,
  Succeed,
  type SucceedOptions,
} from "./core/signals.ts";
export type {
  StateHandler,
  StateHandlerResult,
  StateSubject,
} from "./core/state-handlers.ts";
export { type ErrorData, STATE_TYPES, State, type StateType } from "./core/states.ts";
export { TARGET_FIELDS, type Target, type TargetContext } from "./core/targets.ts";
export { type AnyTask, type Input, type MapInput, type Task, task } from "./core/task.ts";
export type { GatedTaskRun, TaskGate } from "./core/task-gate.ts";
export type { TaskOptions } from "./core/task-options.ts";
export {
  type CountBounds,
  someFailed,
  someSuccessful,
  TRIGGERS,
  type Trigger,
  type TriggerFunction,
  type TriggerName,
  type UpstreamSummary,
} from "./core/triggers.ts";
export { createFlowRunner, type FlowRunner, runFlow } from "./engine/flow-runner.ts";
export {
  createLocalResultBackend,
  type LocalResultBackendOptions,
} from "./engine/results/local-result-backend.ts";
export type { ResultSerializer } from "./engine/results/result-serializers.ts";
export {
  createS3ResultBackend,
  type S3ResultBackendOptions,
} from "./engine/results/s3-result-backend.ts";
export {
  type ContainerEnvironmentOptions,
  type ContainerMount,
  createContainerEnvironment,
  PULL_POLICIES,
  type PullPolicy,
} from "./environments/container/container-environment.ts";
export {
  createDistributedEnvironment,
  type DistributedEnvironmentOptions,
} from "./environments/distributed/distributed-environment.ts";
export {
  type DistributedWorker,
  type DistributedWorkerOptions,
  startDistributedWorker,
} from "./environments/distributed/distributed-worker-start.ts";
export type {
  Environment,
  EnvironmentHooks,
  EnvironmentHost,
  ExecuteContext,
  ExecuteResult,
  KubernetesHost,
  SerializedEnvironment,
} from "./environments/environment.ts";
export {
  createKubernetesEnvironment,
  type KubernetesEnvironmentOptions,
} from "./environments/kubernetes/kubernetes-environment.ts";
export type { KubeToleration } from "./environments/kubernetes/kubernetes-options.ts";
export {
  createLocalEnvironment,
  type LocalEnvironmentOptions,
} from "./environments/local-environment.ts";
export { environmentFromJSON, environmentRegistry } from "./environments/registry.ts";
export {
  createSubprocessEnvironment,
  type SubprocessEnvironmentOptions,
} from "./environments/subprocess/subprocess-environment.ts";
export {
  type Flow,
  type FlowOptions,
  flow,
  isFlow,
} from "./flow.ts";
export {
  type NotifyOptions,
  notify,
  type WebhookOptions,
  type WebhookPayload,
} from "./notify/notify.ts";
export type { FlowEnvironment, FlowStorage } from "./serialization/deployment.ts";
export type { SerializeOptions } from "./serialization/flow-serializer.ts";
export { jsonSchemas, type SerializedFlow, type SerializedState } from "./serialization/index.ts";
export {
  type ContainerStorageOptions,
  createContainerStorage,
} from "./storage/container-storage.ts";
export { createGitStorage, type GitStorageOptions } from "./storage/git-storage.ts";
export { createHttpStorage, type HttpStorageOptions } from "./storage/http-storage.ts";
export { createLocalStorage, type LocalStorageOptions } from "./storage/local-storage.ts";
export { createMemoryStorage } from "./storage/memory-storage.ts";
export { createModuleStorage, type ModuleStorageOptions } from "./storage/module-storage.ts";
export { storageFromJSON, storageRegistry } from "./storage/registry.ts";
export { resultBackendFromJSON } from "./storage/result-backend-registry.ts";
export { createS3Storage, type S3StorageOptions } from "./storage/s3-storage.ts";
export type {
  EnvRunner,
  EnvRunnerContainer,
  EnvRunnerOptions,
  SerializedStorage,
  Storage,
} from "./storage/storage.ts";
