import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { z } from "zod";
import { type ErrorDetails, isWeftError, WeftError } from "../../core/errors.ts";
import type { Logger } from "../../core/reporter.ts";
import type { ApiErrorBody } from "../../serialization/api-schemas.ts";

/** Retry-After (seconds) of a 503 DATABASE_UNAVAILABLE answer. */
const RETRY_AFTER_SECONDS = 2;

/** HTTP status of each error code the API answers with; any other error is a 500. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  INVALID_REQUEST: 400,
  INVALID_PARAMETER: 400,
  UNKNOWN_PARAMETER: 400,
  MISSING_PARAMETER: 400,
  INVALID_SCHEDULE: 400,
  INVALID_FLOW_OPTIONS: 400,
  INVALID_SERIALIZED: 400,
  SCHEMA_VERSION_UNSUPPORTED: 400,
  UNKNOWN_TYPE: 400,
  CREDENTIAL_IN_CONFIG: 400,
  STORAGE_NOT_SHAREABLE: 400,
  STORAGE_LOCATION_ESCAPE: 400,
  STORAGE_LOCATION_INVALID: 400,
  UNKNOWN_TASK: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  HOST_NOT_ALLOWED: 403,
  ORIGIN_NOT_ALLOWED: 403,
  MODULE_STORAGE_NOT_ALLOWED: 403,
  AGENT_NAME_TAKEN: 403,
  ROUTE_NOT_FOUND: 404,
  FLOW_NOT_FOUND: 404,
  FLOW_RUN_NOT_FOUND: 404,
  TASK_RUN_NOT_FOUND: 404,
  AGENT_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  LIMIT_NOT_FOUND: 404,
  INVALID_TRANSITION: 409,
  STALE_VERSION: 409,
  RUN_WRITE_SKIPPED: 409,
  IDEMPOTENCY_CONFLICT: 409,
  RESULT_NOT_PERSISTED: 409,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  DATABASE_UNAVAILABLE: 503,
  MIGRATION_FAILED: 503,
  TOO_MANY_STREAMS: 503,
};

/** The HTTP status the API answers an error code with (500 for codes it does not expect). */
export function statusOfCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

/** The JSON body of an error response. */
export function errorBody(
  code: string,
  message: string,
  hint?: string,
  details?: ErrorDetails,
): ApiErrorBody {
  return {
    error: {
      code,
      message,
      ...(hint === undefined ? {} : { hint }),
      ...(details === undefined ? {} : { details: detailsBody(details) }),
    },
  };
}

/** An error's details as the API answers them (only the fields that are set). */
function detailsBody(details: ErrorDetails): NonNullable<ApiErrorBody["error"]["details"]> {
  return {
    ...(details.parameter === undefined ? {} : { parameter: details.parameter }),
    ...(details.path === undefined ? {} : { path: [...details.path] }),
    ...(details.task === undefined ? {} : { task: details.task }),
  };
}

/**
 * Turns any error into the API's answer. Expected weft errors keep their code,
 * message and hint; everything else is logged and answered with a generic 500,
 * so internals (SQL, paths, stacks) never reach a client.
 */
export function errorResponse(error: unknown, c: Context, logger: Logger): Response {
  if (isWeftError(error)) {
    const status = statusOfCode(error.code);
    if (
      status < 500 ||
      error.code === "DATABASE_UNAVAILABLE" ||
      error.code === "MIGRATION_FAILED" ||
      error.code === "TOO_MANY_STREAMS"
    ) {
      if (status >= 500) {
        logger.warn(`${c.req.method} ${c.req.path}: ${error.message}`, { code: error.code });
        // The database is gone for now: a client may try again shortly (the server reconnects by itself).
        c.header("Retry-After", String(RETRY_AFTER_SECONDS));
      }
      return c.json(errorBody(error.code, error.message, error.hint, error.details), status as 400);
    }
  } else if (c.req.raw.signal.aborted) {
    // The client went away (mid-body, say): no one reads this answer, and nothing was written.
    logger.debug(`${c.req.method} ${c.req.path}: the client went away`, {
      error: error instanceof Error ? error.message : String(error),
    });
    return c.json(
      errorBody("INVALID_REQUEST", "the client went away before the request was read"),
      400,
    );
  } else if (error instanceof HTTPException && error.status < 500) {
    // Hono's own refusals (none are expected: our middleware throws WeftErrors).
    return c.json(errorBody("INVALID_REQUEST", error.message || "bad request"), error.status);
  }
  logger.error(`${c.req.method} ${c.req.path} failed unexpectedly`, {
    error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    ...(isWeftError(error) ? { code: error.code } : {}),
  });
  return c.json(
    errorBody("INTERNAL", "internal server error; the server log has the details"),
    500,
  );
}

/** The answer to a path no route serves. */
export function routeNotFound(c: Context): Response {
  return c.json(
    errorBody(
      "ROUTE_NOT_FOUND",
      `no route ${c.req.method} ${c.req.path}`,
      "GET /api/openapi.json lists every route",
    ),
    404,
  );
}

/** A request part that failed its schema: the error names the field path and the value found there. */
export function invalidRequest(
  where: "body" | "query",
  error: z.ZodError,
  input: unknown,
): WeftError {
  const problems = error.issues.slice(0, 5).map((issue) => {
    const path = issue.path
      .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("");
    const field =
      path === "" ? where : `${where === "query" ? "query " : ""}${path.replace(/^\./, "")}`;
    const found = valueAt(input, issue.path);
    const shown = found.present ? ` (got ${preview(found.value)})` : "";
    return `${field}: ${issue.message}${shown}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : "";
  // The first problem's field, as data: a form shows the error by its input.
  const first = error.issues[0]?.path.filter(
    (p): p is string | number => typeof p === "string" || typeof p === "number",
  );
  return new WeftError(
    "INVALID_REQUEST",
    `invalid request ${where}: ${problems.join("; ")}${more}`,
    {
      hint: "GET /api/openapi.json has the schema of every request",
      ...(first === undefined || first.length === 0 ? {} : { details: { path: first } }),
    },
  );
}

function valueAt(
  input: unknown,
  path: readonly PropertyKey[],
): { present: boolean; value?: unknown } {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== "object" || !(key in current))
      return { present: false };
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return { present: true, value: current };
}

const PREVIEW_CHARS = 80;
const PREVIEW_DEPTH = 8;

/**
 * At most 80 characters of a value's JSON, written only as far as they are
 * shown: a value nested thousands deep or megabytes long costs no more than a
 * small one (no recursion past {@link PREVIEW_DEPTH} levels).
 */
export function preview(value: unknown): string {
  let text = "";
  const full = () => text.length > PREVIEW_CHARS;
  const write = (v: unknown, depth: number): void => {
    if (full()) return;
    if (v === null || typeof v !== "object") {
      const json = typeof v === "bigint" ? String(v) : JSON.stringify(v);
      text += json === undefined ? String(v) : json.slice(0, PREVIEW_CHARS + 1);
      return;
    }
    const array = Array.isArray(v);
    if (depth >= PREVIEW_DEPTH) {
      text += array ? "[…]" : "{…}";
      return;
    }
    text += array ? "[" : "{";
    let first = true;
    for (const key in v) {
      if (full()) return;
      if (!Object.hasOwn(v, key)) continue;
      if (!first) text += ",";
      first = false;
      if (!array) text += `${JSON.stringify(key).slice(0, PREVIEW_CHARS + 1)}:`;
      write((v as Record<string, unknown>)[key], depth + 1);
    }
    text += array ? "]" : "}";
  };
  write(value, 0);
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 3)}…` : text;
}
