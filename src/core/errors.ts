/**
 * Stable error codes. Code branches on these, never on messages or classes:
 * errors cross threads and processes, where `instanceof` lies.
 */
export const ERROR_CODES = [
  "INVALID_TASK_OPTIONS",
  "INVALID_FLOW_OPTIONS",
  "INVALID_FLOW_NAME",
  "TASK_OUTSIDE_FLOW",
  "NESTED_FLOW_BUILD",
  "FLOW_BUILD_FAILED",
  "GRAPH_CYCLE",
  "DUPLICATE_PARAMETER",
  "DUPLICATE_SLUG",
  "UNKNOWN_TASK",
  "UNKNOWN_PARAMETER",
  "MISSING_PARAMETER",
  "INVALID_PARAMETER",
  "INVALID_ARGUMENT",
  "CONTEXT_OUTSIDE_TASK",
  "RESULT_UNAVAILABLE",
  "INVALID_EXECUTOR",
  "FLOW_MODULE_NOT_FOUND",
  "FLOW_MODULE_IMPORT_FAILED",
  "FLOW_MODULE_SYNTAX_ERROR",
  "NO_FLOW_IN_MODULE",
  "AMBIGUOUS_FLOW",
  "DUPLICATE_FLOW_NAME",
  "FLOW_NOT_FOUND",
  "WORKER_FAILED",
  "VALUE_NOT_CLONEABLE",
  "USAGE",
  "INVALID_SERIALIZED",
  "SCHEMA_VERSION_UNSUPPORTED",
  "UNKNOWN_TYPE",
  "NOT_SERIALIZABLE",
  "CREDENTIAL_IN_CONFIG",
  "STORAGE_NOT_BUILT",
  "STORAGE_LOCATION_ESCAPE",
  "STORAGE_LOCATION_INVALID",
  "STORAGE_HASH_MISMATCH",
  "STORAGE_UNREACHABLE",
  "STORAGE_NOT_SHAREABLE",
  "STORAGE_BUILD_FAILED",
  "STORAGE_FLOW_MISSING",
  "MODULE_STORAGE_NOT_ALLOWED",
  "BUNDLE_FAILED",
  "ENV_VAR_INVALID",
  "RESULT_LOCATION_ESCAPE",
  "RESULT_NOT_SERIALIZABLE",
  "RESULT_WRITE_FAILED",
  "RESULT_UNREADABLE",
  "RESULT_NOT_PERSISTED",
  // server and API
  "INVALID_REQUEST",
  "BODY_TOO_LARGE",
  "HOST_NOT_ALLOWED",
  "ORIGIN_NOT_ALLOWED",
  "UNSUPPORTED_MEDIA_TYPE",
  "HEADERS_TOO_LARGE",
  "ROUTE_NOT_FOUND",
  "FLOW_RUN_NOT_FOUND",
  "TASK_RUN_NOT_FOUND",
  "AGENT_NOT_FOUND",
  "TOKEN_NOT_FOUND",
  "LIMIT_NOT_FOUND",
  "INVALID_TRANSITION",
  "STALE_VERSION",
  "RUN_WRITE_SKIPPED",
  "IDEMPOTENCY_CONFLICT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "AGENT_NAME_TAKEN",
  "TOKEN_REQUIRED",
  "DATABASE_UNAVAILABLE",
  "MIGRATION_FAILED",
  "INVALID_SCHEDULE",
  "API_UNREACHABLE",
  "API_ERROR",
  "API_URL_INVALID",
  "AMBIGUOUS_RUN_ID",
  "API_NOT_CONFIGURED",
  "CHILD_FLOW_RUN_FAILED",
  "TOO_MANY_STREAMS",
  // distributed execution
  "REDIS_UNREACHABLE",
  "NO_LIVE_WORKER",
  "DISTRIBUTED_JOB_FAILED",
  // containers
  "CONTAINER_ENGINE_UNREACHABLE",
  "CONTAINER_ENGINE_ERROR",
  "CONTAINER_BUILD_FAILED",
  "CONTAINER_PUSH_FAILED",
  "IMAGE_NOT_FOUND",
  "CONTAINER_MOUNT_NOT_ALLOWED",
  // Kubernetes
  "KUBERNETES_UNREACHABLE",
  "KUBERNETES_FORBIDDEN",
  "KUBERNETES_NAMESPACE_NOT_FOUND",
  "KUBERNETES_API_ERROR",
  "KUBERNETES_ENVIRONMENT_UNSUPPORTED",
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The root of every error weft throws on purpose. `code` is stable; `message`
 * names the value that is wrong and, where possible, the fix; `hint` is an
 * optional second line for people.
 */
export class WeftError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  /** Which input the error is about, as data (the API answers it, a form shows it by field). */
  readonly details: ErrorDetails | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; hint?: string; details?: ErrorDetails },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WeftError";
    this.code = code;
    this.hint = options?.hint;
    this.details = options?.details;
  }
}

/**
 * Which input an error is about, for a program to act on (the message says the
 * same for people): a flow parameter's name, a request field's path, a task's slug.
 */
export interface ErrorDetails {
  readonly parameter?: string | undefined;
  readonly path?: readonly (string | number)[] | undefined;
  readonly task?: string | undefined;
}

/** True for any error carrying a weft error code, whichever copy of weft made it. */
export function isWeftError(value: unknown): value is WeftError {
  return (
    value instanceof Error &&
    typeof (value as unknown as { code?: unknown }).code === "string" &&
    (ERROR_CODES as readonly string[]).includes((value as unknown as { code: string }).code)
  );
}
