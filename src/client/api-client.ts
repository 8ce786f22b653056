// The typed HTTP client of the API: one method per route of src/server/api/routes.ts,
// each answer parsed with the same zod schema the server documents it with. The CLI and
// the agent use it, and src/index.ts exports it for users.
//
// Decisions:
// - Every failure is an `ApiError` (a WeftError with the HTTP status): the server's
//   own code when this client knows it, else API_ERROR; API_UNREACHABLE (status 0)
//   when no answer came; API_ERROR with a version hint when the answer does not
//   match the schema. Callers branch on `code`.
// - The client does not retry: callers that can retry safely do so (the reporter's
//   versioned writes, the agent's registration and claims; see backoff.ts).
// - Over 600 lines on purpose: it mirrors routes.ts, one method per route, and a reader
//   looks a route's method up here by its path.
// - A claim answer is read run by run: a run this client cannot read goes to
//   `onUnreadable` (the agent fails it) and does not hide the others, so a newer
//   server cannot strand a claimed run.
// - The event streams are async iterators of typed events (event-stream.ts reads
//   them), which end when the server ends the stream or the caller's signal aborts.
import { z } from "zod";
import { ERROR_CODES, type ErrorCode, type ErrorDetails, WeftError } from "../core/errors.ts";
import type { LogRecord } from "../core/reporter.ts";
import {
  type AcquireSlotsRequest,
  type AcquireSlotsResponse,
  type AgentHeartbeatResponse,
  type AgentRecord,
  type ApiToken,
  acquireSlotsResponseSchema,
  agentHeartbeatResponseSchema,
  agentRecordSchema,
  apiErrorSchema,
  apiTokenSchema,
  type ClaimedRun,
  type ConcurrencyLimitRecord,
  type CreatedToken,
  type CreateFlowRunRequest,
  type CreateTokenRequest,
  claimedRunSchema,
  concurrencyLimitRecordSchema,
  createFlowRunResponseSchema,
  createTokenResponseSchema,
  type FlowDetail,
  type FlowRunDetail,
  type FlowRunRecord,
  type FlowSummary,
  flowDetailSchema,
  flowRunDetailSchema,
  flowRunRecordSchema,
  flowSummarySchema,
  healthResponseSchema,
  heartbeatResponseSchema,
  ingestLogsResponseSchema,
  type LiveEvent,
  type LogEntry,
  listSchema,
  logEntrySchema,
  pageSchema,
  type RegisterFlowResponse,
  type RunWrite,
  type RunWriteResult,
  readyResponseSchema,
  registerFlowResponseSchema,
  releaseSlotsResponseSchema,
  runWritesResponseSchema,
  type SessionResponse,
  sessionResponseSchema,
  setTaskRunStatesResponseSchema,
  type TaskRunStateWrite,
} from "../serialization/api-schemas.ts";
import {
  type DashboardQuery,
  type DashboardResponse,
  dashboardResponseSchema,
} from "../serialization/dashboard-schemas.ts";
import type { SerializedFlow, SerializedState } from "../serialization/schemas.ts";
import { readLiveEvents } from "./event-stream.ts";

/** How a client reaches the API. */
export interface ApiClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:4200`. */
  readonly url: string;
  /** An API token (sent as `Authorization: Bearer <token>`); none for an open server. */
  readonly token?: string | undefined;
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** An error answer of the API: the server's code, message and hint, plus the HTTP status. */
export class ApiError extends WeftError {
  /** The HTTP status (0 when the server was not reached). */
  readonly status: number;

  constructor(
    code: ErrorCode,
    message: string,
    status: number,
    options?: { cause?: unknown; hint?: string; details?: ErrorDetails },
  ) {
    super(code, message, options);
    this.name = "ApiError";
    this.status = status;
  }
}

/** How `claimFlowRuns` claims. */
export interface ClaimOptions {
  /** At most this many runs. @default 1 */
  readonly limit?: number;
  /** How long the server may wait for a run to become due. @default 0 */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
  /** Called for each claimed run the answer holds that this client cannot read. */
  readonly onUnreadable?: (claim: UnreadableClaim) => void;
}

/**
 * A claimed run this client could not read (a server of another version, a
 * value out of range): its id and row version when those could be read, and
 * what was wrong.
 */
export interface UnreadableClaim {
  readonly id?: string;
  readonly version?: number;
  readonly problem: string;
}

/** A claim answer, each run left to be read on its own. */
const claimAnswerSchema = z.strictObject({ runs: z.array(z.unknown()) });

/** A claim answer's runs: the readable ones; each other one goes to `onUnreadable`. */
function readClaimedRuns(
  runs: readonly unknown[],
  onUnreadable: ((claim: UnreadableClaim) => void) | undefined,
): ClaimedRun[] {
  const out: ClaimedRun[] = [];
  for (const raw of runs) {
    const parsed = claimedRunSchema.safeParse(raw);
    if (parsed.success) {
      out.push(parsed.data);
      continue;
    }
    const run = (raw as { run?: { id?: unknown; version?: unknown } } | null)?.run;
    const problem = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join(".") || "(run)"}: ${i.message}`)
      .join("; ");
    onUnreadable?.({
      ...(typeof run?.id === "string" ? { id: run.id } : {}),
      ...(Number.isInteger(run?.version) ? { version: run!.version as number } : {}),
      problem,
    });
  }
  return out;
}

/** A page of a list, as parsed from an answer; `nextCursor` is absent on the last page. */
export interface ApiPage<T> {
  items: T[];
  nextCursor?: string | undefined;
}

/** Optional filters of `listFlows`. */
export interface ListFlowsOptions {
  readonly name?: string;
  readonly archived?: "true" | "false" | "all";
  readonly limit?: number;
  readonly cursor?: string;
}

/** Optional filters of `listFlowRuns` (`state`: one type, or several comma-separated). */
export interface ListFlowRunsOptions {
  readonly flowId?: string;
  readonly flowName?: string;
  readonly state?: string;
  readonly agentId?: string;
  /** Runs whose id starts with this (4 to 36 hex digits or dashes). */
  readonly idPrefix?: string;
  /** Runs scheduled at or after this ISO time. */
  readonly since?: string;
  /** Runs scheduled before this ISO time. */
  readonly until?: string;
  /** Runs carrying every one of these labels (comma-separated). */
  readonly labels?: string;
  readonly limit?: number;
  readonly cursor?: string;
}

/** How a stream is followed. */
export interface FollowOptions {
  /** Ends the stream (the iteration then ends without an error). */
  readonly signal?: AbortSignal;
}

/**
 * The typed client of the weft API: one method per route (named as the route's
 * OpenAPI operationId), answers parsed with the same schemas the server uses.
 * An error answer becomes an {@link ApiError} with the server's code (or
 * API_ERROR for a code this version does not know); a server it cannot reach,
 * API_UNREACHABLE naming the URL.
 */
export interface ApiClient {
  /** The base URL it talks to. */
  readonly url: string;
  health(): Promise<{ status: "ok" }>;
  /** Who this client is to the server: its token's widest scope, or `open`. */
  getSession(): Promise<SessionResponse>;
  ready(): Promise<{ status: "ready" }>;
  openapi(): Promise<Record<string, unknown>>;

  registerFlow(flow: SerializedFlow, versionGroup?: string): Promise<RegisterFlowResponse>;
  listFlows(options?: ListFlowsOptions): Promise<ApiPage<FlowSummary>>;
  getFlow(id: string): Promise<FlowDetail>;

  createFlowRun(request: CreateFlowRunRequest): Promise<{ run: FlowRunRecord; created: boolean }>;
  listFlowRuns(options?: ListFlowRunsOptions): Promise<ApiPage<FlowRunRecord>>;
  /**
   * One run with its task runs, state history and child runs; `include: "flow"` adds its
   * flow version with the graph (`flow`) to the same answer.
   */
  getFlowRun(id: string, options?: { include?: "flow" }): Promise<FlowRunDetail>;
  cancelFlowRun(id: string): Promise<FlowRunRecord>;
  /**
   * Re-runs a finished or Paused run from where it stopped: answers the NEW run
   * (`resumedFrom` = `id`), whose tasks with results the given run persisted are
   * not run again. `approve` (task slugs) approves `manual_only` or `Pause`
   * tasks: approving a waiting task is `resumeFlowRun(pausedRunId, { approve: [slug] })`.
   * Refused: INVALID_TRANSITION (not finished nor Paused), UNKNOWN_TASK (`details.task`),
   * RESULT_NOT_PERSISTED (no results to resume from, and nothing to approve).
   */
  resumeFlowRun(id: string, options?: { approve?: string[] }): Promise<FlowRunRecord>;
  /** Refused with STALE_VERSION unless `version` is the run's current row version. */
  setFlowRunState(id: string, state: SerializedState, version: number): Promise<FlowRunRecord>;
  heartbeatFlowRun(id: string): Promise<{ state: SerializedState; version: number }>;
  listLogs(id: string, options?: { limit?: number; cursor?: string }): Promise<ApiPage<LogEntry>>;

  /** Applies the writes all or none; answers each write's new version, in order. */
  setTaskRunStates(writes: readonly TaskRunStateWrite[]): Promise<number[]>;
  /**
   * Writes of many runs in one request and one transaction, each applied whole or
   * refused alone; answers one result per write, in order (a refused one carries
   * its error: {@link runWriteError} makes it the error its own route would throw).
   */
  writeRuns(writes: readonly RunWrite[]): Promise<RunWriteResult[]>;
  ingestLogs(records: readonly LogRecord[]): Promise<void>;

  registerAgent(input: {
    name: string;
    labels?: string[];
    concurrency?: number;
  }): Promise<AgentRecord>;
  listAgents(): Promise<AgentRecord[]>;
  getAgent(id: string): Promise<AgentRecord>;
  /**
   * Says the agent is alive; `runs` (the ids of the runs it holds) lets the
   * server give back claimed runs whose answer never reached it.
   */
  /**
   * `runs`: the runs the agent holds; with `runStates`, their heartbeats are recorded too
   * and the answer's `cancelling` lists those being cancelled.
   */
  heartbeatAgent(
    id: string,
    runs?: readonly string[],
    options?: { runStates?: boolean },
  ): Promise<AgentHeartbeatResponse>;
  /**
   * Claims up to `limit` due runs; with `waitMs`, the server holds the request
   * until one becomes due (long poll). `signal` ends the wait (the call then
   * rejects with the signal's reason). Each run of the answer is read on its
   * own: one this client cannot read is left out and handed to `onUnreadable`
   * (so the caller can fail it), and the others are returned.
   */
  claimFlowRuns(agentId: string, options?: ClaimOptions): Promise<ClaimedRun[]>;

  /** Every concurrency limit by tag, with the task runs holding its slots. */
  listConcurrencyLimits(): Promise<ConcurrencyLimitRecord[]>;
  /** Sets (creates or changes) a tag's concurrency limit (admin). */
  setConcurrencyLimit(tag: string, limit: number): Promise<ConcurrencyLimitRecord>;
  /** Removes a tag's concurrency limit (admin; LIMIT_NOT_FOUND if none); answers it as it was. */
  deleteConcurrencyLimit(tag: string): Promise<ConcurrencyLimitRecord>;
  /**
   * Takes one slot of each limited tag for a task run, all or none; with
   * `waitMs`, the server holds the request until they are free (long poll).
   * `signal` ends the wait (the call then rejects with the signal's reason).
   */
  acquireTaskSlots(
    flowRunId: string,
    request: AcquireSlotsRequest,
    signal?: AbortSignal,
  ): Promise<AcquireSlotsResponse>;
  /** Frees the slots a task run holds; answers how many. */
  releaseTaskSlots(flowRunId: string, task: { slug: string; mapIndex?: number }): Promise<number>;

  listTokens(): Promise<ApiToken[]>;
  createToken(request: CreateTokenRequest): Promise<CreatedToken>;
  revokeToken(idOrName: string): Promise<ApiToken>;

  /** The web UI dashboard's aggregates (runs per bucket, failures, agents, waiting runs). */
  getDashboard(query?: DashboardQuery): Promise<DashboardResponse>;
  /**
   * Follows GET /api/events: `ready` first (fetch what you show then, and again at
   * each later `ready`), then `run` for every run created or changed and `agent`
   * for every agent heard from, as the server replica this client talks to writes
   * them. Ends when the server ends the stream or `signal` aborts.
   * @example
   * for await (const event of api.followEvents({ signal })) if (event.type === "run") show(event.data);
   */
  followEvents(options?: FollowOptions): AsyncIterable<LiveEvent>;
  /**
   * Follows one run (GET /api/flow-runs/:id/events): `ready` first, then `run`
   * (its record), `task-runs` (the task runs a write changed) and `logs` (new log
   * records). FLOW_RUN_NOT_FOUND when there is no such run.
   */
  followFlowRun(id: string, options?: FollowOptions): AsyncIterable<LiveEvent>;
}

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * Makes an API client.
 * @example
 * const api = createApiClient({ url: "http://127.0.0.1:4200", token: process.env.WEFT_API_TOKEN });
 * const { run } = await api.createFlowRun({ flowName: "etl", parameters: { output: "out/report.md" } });
 */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const base = checkedUrl(options.url).replace(/\/+$/, "");
  const doFetch = options.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.token !== undefined && options.token !== "")
    headers.authorization = `Bearer ${options.token}`;

  async function call<S extends z.ZodType>(
    method: "GET" | "POST",
    path: string,
    schema: S,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<z.infer<S>> {
    const url = `${base}${path}`;
    let response: Response;
    try {
      response = await doFetch(url, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      throw unreachable(base, error);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      throw unreachable(base, error);
    }
    const json = parseJson(text);
    if (json === undefined && text !== "") throw notWeft(base, method, path, response);
    if (!response.ok) throw errorFrom(base, method, path, response.status, json, text);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ApiError(
        "API_ERROR",
        `unexpected answer from ${method} ${url}: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`)
          .join("; ")}`,
        response.status,
        { hint: "the server and this client may be different versions of weft" },
      );
    }
    return parsed.data;
  }

  const id = (value: string) => encodeURIComponent(value);

  async function* follow(path: string, signal: AbortSignal | undefined): AsyncGenerator<LiveEvent> {
    const url = `${base}${path}`;
    let response: Response;
    try {
      response = await doFetch(url, {
        method: "GET",
        headers: { ...headers, accept: "text/event-stream" },
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if (signal?.aborted) return;
      throw unreachable(base, error);
    }
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !type.startsWith("text/event-stream") || response.body === null) {
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        if (signal?.aborted) return;
        throw unreachable(base, error);
      }
      const json = parseJson(text);
      if (json === undefined && text !== "") throw notWeft(base, "GET", path, response);
      throw errorFrom(base, "GET", path, response.status, json, text);
    }
    yield* readLiveEvents(response.body, `GET ${url}`, signal);
  }

  return {
    url: base,
    health: () => call("GET", "/api/health", healthResponseSchema),
    getSession: () => call("GET", "/api/session", sessionResponseSchema),
    ready: () => call("GET", "/api/ready", readyResponseSchema),
    openapi: () => call("GET", "/api/openapi.json", openApiSchema),

    registerFlow: (flow, versionGroup) =>
      call(
        "POST",
        "/api/flows",
        registerFlowResponseSchema,
        versionGroup === undefined ? { flow } : { flow, versionGroup },
      ),
    listFlows: (o = {}) => call("GET", `/api/flows${query(o)}`, pageSchema(flowSummarySchema)),
    getFlow: (flowId) => call("GET", `/api/flows/${id(flowId)}`, flowDetailSchema),

    createFlowRun: (request) =>
      call("POST", "/api/flow-runs", createFlowRunResponseSchema, request),
    listFlowRuns: (o = {}) =>
      call("GET", `/api/flow-runs${query(o)}`, pageSchema(flowRunRecordSchema)),
    getFlowRun: (runId, o = {}) =>
      call("GET", `/api/flow-runs/${id(runId)}${query(o)}`, flowRunDetailSchema),
    cancelFlowRun: (runId) =>
      call("POST", `/api/flow-runs/${id(runId)}/cancel`, flowRunRecordSchema, {}),
    resumeFlowRun: (runId, o = {}) =>
      call(
        "POST",
        `/api/flow-runs/${id(runId)}/resume`,
        flowRunRecordSchema,
        o.approve === undefined ? {} : { approve: o.approve },
      ),
    setFlowRunState: (runId, state, version) =>
      call("POST", `/api/flow-runs/${id(runId)}/state`, flowRunRecordSchema, { state, version }),
    heartbeatFlowRun: (runId) =>
      call("POST", `/api/flow-runs/${id(runId)}/heartbeat`, heartbeatResponseSchema, {}),
    listLogs: (runId, o = {}) =>
      call("GET", `/api/flow-runs/${id(runId)}/logs${query(o)}`, pageSchema(logEntrySchema)),

    setTaskRunStates: async (writes) =>
      (
        await call("POST", "/api/task-run-states", setTaskRunStatesResponseSchema, {
          states: writes,
        })
      ).versions,
    writeRuns: async (writes) =>
      (await call("POST", "/api/run-writes", runWritesResponseSchema, { writes })).results,
    ingestLogs: async (records) => {
      await call("POST", "/api/logs", ingestLogsResponseSchema, { logs: records });
    },

    registerAgent: (input) => call("POST", "/api/agents", agentRecordSchema, input),
    listAgents: async () => (await call("GET", "/api/agents", listSchema(agentRecordSchema))).items,
    getAgent: (agentId) => call("GET", `/api/agents/${id(agentId)}`, agentRecordSchema),
    heartbeatAgent: (agentId, runs, o = {}) =>
      call(
        "POST",
        `/api/agents/${id(agentId)}/heartbeat`,
        agentHeartbeatResponseSchema,
        runs === undefined
          ? {}
          : { runs: [...runs], ...(o.runStates === true ? { runStates: true } : {}) },
      ),
    claimFlowRuns: async (agentId, o = {}) =>
      readClaimedRuns(
        (
          await call(
            "POST",
            `/api/agents/${id(agentId)}/claim`,
            claimAnswerSchema,
            { limit: o.limit ?? 1, waitMs: o.waitMs ?? 0 },
            o.signal,
          )
        ).runs,
        o.onUnreadable,
      ),

    listConcurrencyLimits: async () =>
      (await call("GET", "/api/limits", listSchema(concurrencyLimitRecordSchema))).items,
    setConcurrencyLimit: (tag, limit) =>
      call("POST", "/api/limits", concurrencyLimitRecordSchema, { tag, limit }),
    deleteConcurrencyLimit: (tag) =>
      call("POST", "/api/limits/delete", concurrencyLimitRecordSchema, { tag }),
    acquireTaskSlots: (runId, request, signal) =>
      call(
        "POST",
        `/api/flow-runs/${id(runId)}/slots/acquire`,
        acquireSlotsResponseSchema,
        request,
        signal,
      ),
    releaseTaskSlots: async (runId, task) =>
      (
        await call(
          "POST",
          `/api/flow-runs/${id(runId)}/slots/release`,
          releaseSlotsResponseSchema,
          {
            slug: task.slug,
            ...(task.mapIndex === undefined ? {} : { mapIndex: task.mapIndex }),
          },
        )
      ).released,

    listTokens: async () => (await call("GET", "/api/tokens", listSchema(apiTokenSchema))).items,
    createToken: (request) => call("POST", "/api/tokens", createTokenResponseSchema, request),
    revokeToken: (idOrName) =>
      call("POST", `/api/tokens/${id(idOrName)}/revoke`, apiTokenSchema, {}),

    getDashboard: (q = {}) => call("GET", `/api/dashboard${query(q)}`, dashboardResponseSchema),
    followEvents: (o = {}) => follow("/api/events", o.signal),
    followFlowRun: (runId, o = {}) => follow(`/api/flow-runs/${id(runId)}/events`, o.signal),
  };
}

/** The OpenAPI document, checked only as far as its version field. */
const openApiSchema = z.looseObject({ openapi: z.string() });

function query(params: object): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The API's base URL, refused unless it is an http(s) URL (`127.0.0.1:4200` parses as scheme `127.0.0.1:`). */
function checkedUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {}
  if (parsed !== undefined && (parsed.protocol === "http:" || parsed.protocol === "https:"))
    return url;
  let withScheme: URL | undefined;
  try {
    withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? undefined : new URL(`http://${url}`);
  } catch {}
  throw new WeftError(
    "API_URL_INVALID",
    `the API URL ${JSON.stringify(url)} is invalid: it must start with http:// or https://`,
    {
      hint:
        withScheme === undefined
          ? "pass --api http://host:port (or set WEFT_API_URL), e.g. --api http://127.0.0.1:4200"
          : `did you mean --api http://${url}?`,
    },
  );
}

/** An answer that is not JSON: something else than a weft server listens at `base`. */
function notWeft(base: string, method: string, path: string, response: Response): ApiError {
  const type = (response.headers.get("content-type") ?? "no content type").split(";")[0];
  return new ApiError(
    "API_ERROR",
    `${base} does not answer as a weft API: ${method} ${path} answered HTTP ${response.status} with ${type}, not JSON`,
    response.status,
    {
      hint: `is ${base} a weft server? \`weft up\` and \`weft server start\` listen on ${DEFAULT_URL} unless told otherwise`,
    },
  );
}

const DEFAULT_URL = "http://127.0.0.1:4200";

function unreachable(base: string, error: unknown): ApiError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (error as Error).message;
  return new ApiError("API_UNREACHABLE", `cannot reach the weft API at ${base} (${why})`, 0, {
    cause: error,
    hint: "is `weft up` or `weft server start` running there? Set the address with --api or WEFT_API_URL",
  });
}

/** The error a refused write of a batch would have thrown from its own route. */
export function runWriteError(result: Extract<RunWriteResult, { ok: false }>): ApiError {
  const { code, message, hint } = result.error;
  const extra = hint === undefined ? {} : { hint };
  if (KNOWN_CODES.has(code)) return new ApiError(code as ErrorCode, message, result.status, extra);
  return new ApiError(
    "API_ERROR",
    `${message} (${code}, HTTP ${result.status})`,
    result.status,
    extra,
  );
}

function errorFrom(
  base: string,
  method: string,
  path: string,
  status: number,
  json: unknown,
  text: string,
): ApiError {
  const parsed = apiErrorSchema.safeParse(json);
  if (!parsed.success) {
    // One line, whatever the body's layout (the CLI prints errors as one line).
    const flat = text.replace(/\s+/g, " ").trim();
    const shown = flat.length > 200 ? `${flat.slice(0, 197)}…` : flat;
    return new ApiError(
      "API_ERROR",
      `${method} ${base}${path} answered ${status}${shown ? `: ${shown}` : ""}`,
      status,
      { hint: `is ${base} a weft server?` },
    );
  }
  const { code, message, hint, details } = parsed.data.error;
  const extra = {
    ...(hint === undefined ? {} : { hint }),
    ...(details === undefined ? {} : { details }),
  };
  if (KNOWN_CODES.has(code)) return new ApiError(code as ErrorCode, message, status, extra);
  return new ApiError("API_ERROR", `${message} (${code}, HTTP ${status})`, status, extra);
}
