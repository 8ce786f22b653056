// The serialization part: versioned JSON of flows, states, schedules and runs, and the checks a deployment passes.

export { assertNoCredentials, resolveSecretReference } from "./credentials.ts";
export {
  checkPairing,
  type FlowEnvironment,
  type FlowStorage,
  STORAGE_NEEDS,
  type StorageNeed,
} from "./deployment.ts";
export {
  codeVariables,
  createEventsMarker,
  createEventWriter,
  eventLinePrefix,
  FLOW_RUN_VARIABLES,
  flowRunEnvSchema,
  forwardEvent,
  parseEventLine,
  type RunEvent,
  readFlowRunEnv,
  runEventSchema,
  runVariables,
  splitEventLine,
  stateToWire,
  takesWireStates,
  type WireReporter,
} from "./flow-run-protocol.ts";
export {
  type DeployableFlow,
  deploymentOf,
  type FlowDeployment,
  type FlowDeploymentOptions,
  parseSerializedFlow,
  type SerializeOptions,
  scheduleFromJSON,
  scheduleToJSON,
  serializeFlow,
  serializeFlowGraph,
  stateFromJSON,
  stateToJSON,
} from "./flow-serializer.ts";
export { type RegistryEntry, TypeRegistry } from "./registry.ts";
export {
  jsonSchemas,
  SCHEMA_VERSIONS,
  type SchemaKind,
  type SerializedEdge,
  type SerializedFlow,
  type SerializedParameter,
  type SerializedSchedule,
  type SerializedState,
  type SerializedTask,
  type TypedObject,
} from "./schemas.ts";
export { parseStrict } from "./validate.ts";
