// Importing this part installs `flow.serialize()` into core.

export { assertNoCredentials, resolveSecretReference } from "./credentials.ts";
export {
  codeVariables,
  createEventWriter,
  FLOW_RUN_VARIABLES,
  flowRunEnvSchema,
  forwardEvent,
  parseEventLine,
  type RunEvent,
  readFlowRunEnv,
  runEventSchema,
  runVariables,
  stateToWire,
  takesWireStates,
  type WireReporter,
} from "./flow-run-protocol.ts";
export {
  type FlowDeployment,
  parseSerializedFlow,
  scheduleFromJSON,
  scheduleToJSON,
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
