// Every route of the API as data. One `Route` per endpoint holds its method, path,
// required scope, body and query schemas, response schema, the error codes it may
// answer and its handler; app.ts serves this list and openapi.ts documents it, so a
// route, its checks and its documentation cannot drift apart.
//
// Handlers are thin: they run after app.ts has authorized the caller and validated
// the input, call one ServerDb repository (src/server/db/) and shape the answer. The
// rules (row versions, state transitions, claims, recovery) live in the repositories,
// not here. Responses are not validated again on the way out; the client parses them
// with the same schemas (src/client/api-client.ts). Over 600 lines on purpose: it is
// the one list of every route, which serving, auth and the OpenAPI document read.
//
// Decisions that are not obvious:
// - Registration runs `checkFlow`: a flow an agent would refuse to deploy (bad
//   schedule, unknown kind, module storage, a credential in its settings) is refused
//   when it is registered, not when its first run fails.
// - `read` tokens see credential-looking parameters masked (masking.ts); `agent`
//   and `admin` tokens see them, since agents run the flows.
// - An agent heartbeat that lists the runs it holds frees the runs claimed for it
//   that it does not list, but only claims older than `claimAnswerGraceMs`: the
//   answer of a younger claim may still be on its way to the agent.
// - Two kinds of route share the list: JSON routes (`route`) and event-stream
//   routes (`eventRoute`, kind "events"), whose handler answers a stream of
//   server-sent events (live-streams.ts) and whose `events` document each event's
//   data. Auth, the request guard and validation are the same for both.
import { z } from "zod";
import { type ErrorCode, isWeftError, WeftError } from "../../core/errors.ts";
import {
  ALL_RUNS_EVENT_TYPES,
  acquireSlotsRequestSchema,
  acquireSlotsResponseSchema,
  agentHeartbeatRequestSchema,
  agentHeartbeatResponseSchema,
  agentRecordSchema,
  apiTokenSchema,
  claimRequestSchema,
  claimResponseSchema,
  concurrencyLimitRecordSchema,
  createFlowRunRequestSchema,
  createFlowRunResponseSchema,
  createTokenRequestSchema,
  createTokenResponseSchema,
  deleteConcurrencyLimitRequestSchema,
  FLOW_RUN_EVENT_TYPES,
  flowDetailSchema,
  flowRunDetailSchema,
  flowRunRecordSchema,
  flowSummarySchema,
  getFlowRunQuerySchema,
  healthResponseSchema,
  heartbeatResponseSchema,
  ingestLogsRequestSchema,
  ingestLogsResponseSchema,
  type LIVE_EVENT_TYPES,
  listFlowRunsQuerySchema,
  listFlowsQuerySchema,
  listLogsQuerySchema,
  listSchema,
  liveEventSchemas,
  logEntrySchema,
  pageSchema,
  readyResponseSchema,
  registerAgentRequestSchema,
  registerFlowRequestSchema,
  registerFlowResponseSchema,
  releaseSlotsRequestSchema,
  releaseSlotsResponseSchema,
  resumeFlowRunRequestSchema,
  runWritesRequestSchema,
  runWritesResponseSchema,
  sessionResponseSchema,
  setConcurrencyLimitRequestSchema,
  setFlowRunStateRequestSchema,
  setTaskRunStatesRequestSchema,
  setTaskRunStatesResponseSchema,
} from "../../serialization/api-schemas.ts";
import {
  dashboardQuerySchema,
  dashboardResponseSchema,
} from "../../serialization/dashboard-schemas.ts";
import { checkDeployment, type DeploymentRules } from "../../serialization/deployment.ts";
import { scheduleFromJSON } from "../../serialization/flow-serializer.ts";
import type { SerializedFlow } from "../../serialization/schemas.ts";
import { quickTaskRunStates } from "../../serialization/task-run-writes-check.ts";
import type { ServerDb } from "../db/server-db.ts";
import { allows, type Caller, type RequiredScope, widestScope } from "./auth.ts";
import { claimWithWait } from "./claim-wait.ts";
import { statusOfCode } from "./errors.ts";
import { LiveStreams } from "./live-streams.ts";
import { maskFlowDetail, maskFlowRunDetail, maskFlowRunPage, readsOnly } from "./masking.ts";
import { acquireWithWait } from "./slot-wait.ts";
import { listWorkers, type WorkerDirectory } from "./worker-directory.ts";

/** What a route handler gets: the validated body and query, the path parameters, and who called. */
export interface RouteRequest<B, Q> {
  readonly body: B;
  readonly query: Q;
  readonly params: Readonly<Record<string, string>>;
  /** Aborts when the client goes away or the server closes. */
  readonly signal: AbortSignal;
  readonly caller: Caller;
}

/**
 * One API route: the single description the app serves, checks and documents
 * (the OpenAPI document is built from the same list, so it lists every route).
 */
export interface Route<B = unknown, Q = unknown, R = unknown> {
  readonly method: "get" | "post";
  /** Hono syntax: `/api/flow-runs/:id`. */
  readonly path: string;
  /** The operation's name in the OpenAPI document and the client. */
  readonly operationId: string;
  readonly summary: string;
  readonly scope: RequiredScope;
  readonly body?: z.ZodType<B>;
  /**
   * A quicker check of the body's common shape, tried before `body` (which the
   * OpenAPI document shows): the checked body, or undefined to leave the input to
   * `body`, which words every error. @default none
   */
  readonly quickBody?: (input: unknown) => B | undefined;
  readonly query?: z.ZodType<Q>;
  readonly response: z.ZodType;
  /** Error codes this route answers with besides auth, validation and 5xx. */
  readonly errors: readonly ErrorCode[];
  /**
   * When the answer is 201 Created: always, or when the result says `created`
   * (an idempotent repeat is 200). @default never (200)
   */
  readonly created?: "always" | "when-new";
  readonly handle: (request: RouteRequest<B, Q>) => Promise<R>;
}

/**
 * A route that answers a stream of server-sent events (`text/event-stream`): its
 * handler checks what it must (an unknown run is 404) and opens the stream; a
 * refusal before that is an ordinary JSON error.
 */
export interface EventRoute<Q = unknown> {
  readonly kind: "events";
  readonly method: "get";
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly scope: RequiredScope;
  readonly query?: z.ZodType<Q>;
  /** Each event the stream may send, by name, with its data's schema. */
  readonly events: Readonly<Record<string, z.ZodType>>;
  readonly errors: readonly ErrorCode[];
  readonly handle: (request: RouteRequest<undefined, Q>) => Promise<ReadableStream<Uint8Array>>;
}

/** A route with its types erased, as the app holds it: JSON or an event stream. */
export type AnyRoute =
  | (Route<unknown, unknown, unknown> & { readonly kind?: undefined })
  | EventRoute;

function route<B = undefined, Q = undefined, R = unknown>(spec: Route<B, Q, R>): AnyRoute {
  return spec as unknown as AnyRoute;
}

function eventRoute<Q = undefined>(spec: Omit<EventRoute<Q>, "kind" | "method">): AnyRoute {
  return { ...spec, kind: "events", method: "get" } as unknown as AnyRoute;
}

/** The documented events of a stream, by name. */
function eventsOf(types: readonly (typeof LIVE_EVENT_TYPES)[number][]): Record<string, z.ZodType> {
  return Object.fromEntries(types.map((t) => [t, liveEventSchemas[t]]));
}

/** What the routes need. */
export interface RouteDeps {
  readonly db: ServerDb;
  /** The OpenAPI document (built from these routes). */
  readonly openapi: () => unknown;
  /** The longest a waiting claim goes without asking the database. @default 1000 */
  readonly claimPollMs?: number;
  /**
   * How old a claim must be before an agent's heartbeat that does not list the
   * run gives it back (the claim's answer may still be on its way). @default 10000
   */
  readonly claimAnswerGraceMs?: number;
  /** What a registered flow's storage and environment may be. @default {} (weft's own type tags; no module storage) */
  readonly deployment?: DeploymentRules;
  /** The event streams' registry (cap, keepalive, queue bound). @default one over `db.changes` with its defaults */
  readonly live?: LiveStreams;
  /** Where the dashboard lists the distributed executor's workers. @default none (the dashboard says so) */
  readonly workers?: WorkerDirectory;
}

/** Every route of the API. */
export function apiRoutes(deps: RouteDeps): AnyRoute[] {
  const { db } = deps;
  const live = deps.live ?? new LiveStreams(db.changes);
  return [
    // ── health ──
    route({
      method: "get",
      path: "/api/health",
      operationId: "health",
      summary: "Liveness: the process answers (no database access).",
      scope: "open",
      response: healthResponseSchema,
      errors: [],
      handle: async () => ({ status: "ok" as const }),
    }),
    route({
      method: "get",
      path: "/api/ready",
      operationId: "ready",
      summary: "Readiness: the database answers and its schema is current (else 503).",
      scope: "open",
      response: readyResponseSchema,
      errors: ["DATABASE_UNAVAILABLE"],
      handle: async () => {
        let ready = false;
        try {
          ready = await db.ready();
        } catch (error) {
          throw new WeftError(
            "DATABASE_UNAVAILABLE",
            `the database does not answer: ${(error as Error).message}`,
            { cause: error },
          );
        }
        if (!ready)
          throw new WeftError(
            "DATABASE_UNAVAILABLE",
            "the database does not answer or its schema is not current",
          );
        return { status: "ready" as const };
      },
    }),
    route({
      method: "get",
      path: "/api/openapi.json",
      operationId: "openapi",
      summary: "This API's OpenAPI 3.1 document.",
      scope: "open",
      response: z.looseObject({ openapi: z.string() }),
      errors: [],
      handle: async () => deps.openapi(),
    }),

    route({
      method: "get",
      path: "/api/session",
      operationId: "getSession",
      summary:
        "Who the caller is: the token's widest scope and name, or `open` on a server that serves without tokens.",
      scope: "read",
      response: sessionResponseSchema,
      errors: [],
      handle: async ({ caller }) =>
        caller.kind === "open"
          ? { scope: "open" as const }
          : {
              scope: widestScope(caller.token.scopes) ?? ("read" as const),
              tokenName: caller.token.name,
            },
    }),

    // ── flows ──
    route({
      method: "post",
      path: "/api/flows",
      operationId: "registerFlow",
      summary:
        "Register a serialized flow: the same content gives the same version (200), new content the next version of its group (201).",
      scope: "agent",
      body: registerFlowRequestSchema,
      response: registerFlowResponseSchema,
      errors: [
        "INVALID_SCHEDULE",
        "CREDENTIAL_IN_CONFIG",
        "UNKNOWN_TYPE",
        "INVALID_SERIALIZED",
        "STORAGE_LOCATION_ESCAPE",
        "STORAGE_LOCATION_INVALID",
        "MODULE_STORAGE_NOT_ALLOWED",
      ],
      created: "when-new",
      handle: async ({ body }) => {
        checkFlow(body.flow, deps.deployment);
        return db.flows.register(body.flow, body.versionGroup);
      },
    }),
    route({
      method: "get",
      path: "/api/flows",
      operationId: "listFlows",
      summary: "List flow versions (unarchived by default), newest first.",
      scope: "read",
      query: listFlowsQuerySchema,
      response: pageSchema(flowSummarySchema),
      errors: [],
      handle: ({ query }) => db.flows.list(query),
    }),
    route({
      method: "get",
      path: "/api/flows/:id",
      operationId: "getFlow",
      summary: "One flow version with its serialized graph.",
      scope: "read",
      response: flowDetailSchema,
      errors: ["FLOW_NOT_FOUND"],
      handle: async ({ params, caller }) => {
        const detail = await db.flows.get(params.id!);
        return readsOnly(caller) ? maskFlowDetail(detail) : detail;
      },
    }),

    // ── flow runs ──
    route({
      method: "post",
      path: "/api/flow-runs",
      operationId: "createFlowRun",
      summary:
        "Create a run in Scheduled (201), or return the run an idempotency key already made (200).",
      scope: "agent",
      body: createFlowRunRequestSchema,
      response: createFlowRunResponseSchema,
      errors: ["FLOW_NOT_FOUND", "INVALID_PARAMETER", "IDEMPOTENCY_CONFLICT"],
      created: "when-new",
      handle: ({ body }) => db.runs.create(body),
    }),
    route({
      method: "get",
      path: "/api/flow-runs",
      operationId: "listFlowRuns",
      summary:
        "List runs, newest scheduled start first; `state` is a comma-separated list; `idPrefix` finds runs by the start of their id.",
      scope: "read",
      query: listFlowRunsQuerySchema,
      response: pageSchema(flowRunRecordSchema),
      errors: [],
      handle: async ({ query, caller }) => {
        const page = await db.runs.list(query);
        return readsOnly(caller) ? maskFlowRunPage(page) : page;
      },
    }),
    route({
      method: "get",
      path: "/api/flow-runs/:id",
      operationId: "getFlowRun",
      summary:
        "One run with its task runs and its state history (oldest first); `include=flow` adds its flow version with the graph (`flow`, as GET /api/flows/:id answers it).",
      scope: "read",
      query: getFlowRunQuerySchema,
      response: flowRunDetailSchema,
      errors: ["FLOW_RUN_NOT_FOUND"],
      handle: async ({ params, query, caller }) => {
        const run = await db.runs.getDetail(params.id!);
        const detail =
          query.include === "flow" ? { ...run, flow: await db.flows.get(run.flowId) } : run;
        return readsOnly(caller) ? maskFlowRunDetail(detail) : detail;
      },
    }),
    route({
      method: "post",
      path: "/api/flow-runs/:id/cancel",
      operationId: "cancelFlowRun",
      summary: "Cancel a run: a pending run becomes Cancelled, a running one Cancelling.",
      scope: "agent",
      response: flowRunRecordSchema,
      errors: ["FLOW_RUN_NOT_FOUND", "INVALID_TRANSITION"],
      handle: ({ params }) => db.runs.cancel(params.id!),
    }),
    route({
      method: "post",
      path: "/api/flow-runs/:id/state",
      operationId: "setFlowRunState",
      summary: "Set a run's state; refused unless `version` is the run's current row version.",
      scope: "agent",
      body: setFlowRunStateRequestSchema,
      response: flowRunRecordSchema,
      errors: ["FLOW_RUN_NOT_FOUND", "INVALID_TRANSITION", "STALE_VERSION"],
      handle: ({ params, body }) => db.runs.setState(params.id!, body.state, body.version),
    }),
    route({
      method: "post",
      path: "/api/flow-runs/:id/heartbeat",
      operationId: "heartbeatFlowRun",
      summary: "Record a run's heartbeat; answers its current state (stop on Cancelling).",
      scope: "agent",
      response: heartbeatResponseSchema,
      errors: ["FLOW_RUN_NOT_FOUND"],
      handle: async ({ params }) => {
        const run = await db.runs.heartbeat(params.id!);
        return { state: run.state, version: run.version };
      },
    }),
    route({
      method: "get",
      path: "/api/flow-runs/:id/logs",
      operationId: "listLogs",
      summary: "A run's logs, oldest first, in pages.",
      scope: "read",
      query: listLogsQuerySchema,
      response: pageSchema(logEntrySchema),
      errors: ["FLOW_RUN_NOT_FOUND"],
      handle: async ({ params, query }) => {
        const page = await db.logs.list(params.id!, query);
        // An empty first page may mean an unknown run: say so (404), like every other route.
        if (page.items.length === 0 && query.cursor === undefined) await db.runs.get(params.id!);
        return page;
      },
    }),
    route({
      method: "post",
      path: "/api/flow-runs/:id/resume",
      operationId: "resumeFlowRun",
      summary:
        "Re-run a finished or Paused run from where it stopped (201): a new run of the same flow version and parameters, `resumedFrom` the given one, whose tasks with results the given run persisted do not run again; `approve` (task slugs) approves manual_only or Pause tasks, which is how a waiting task is approved. A Paused run given here ends Cancelled, naming the new run. Refused: a run not finished nor Paused (INVALID_TRANSITION), a slug that is not a task of the flow (UNKNOWN_TASK), and, without `approve`, a flow that persists no results under its run id (RESULT_NOT_PERSISTED: everything would run again; create a run instead).",
      scope: "agent",
      body: resumeFlowRunRequestSchema,
      response: flowRunRecordSchema,
      errors: ["FLOW_RUN_NOT_FOUND", "INVALID_TRANSITION", "UNKNOWN_TASK", "RESULT_NOT_PERSISTED"],
      created: "always",
      handle: ({ params, body }) => db.runs.resume(params.id!, body.approve),
    }),

    // ── task runs, logs ──
    route({
      method: "post",
      path: "/api/task-run-states",
      operationId: "setTaskRunStates",
      summary:
        "Apply many task-run state writes, all or none; answers each write's new row version.",
      scope: "agent",
      body: setTaskRunStatesRequestSchema,
      quickBody: quickTaskRunStates,
      response: setTaskRunStatesResponseSchema,
      errors: ["FLOW_RUN_NOT_FOUND", "INVALID_TRANSITION", "STALE_VERSION"],
      handle: async ({ body }) => ({ versions: await db.taskRuns.setStates(body.states) }),
    }),
    route({
      method: "post",
      path: "/api/logs",
      operationId: "ingestLogs",
      summary: "ServerDb a batch of log records.",
      scope: "agent",
      body: ingestLogsRequestSchema,
      response: ingestLogsResponseSchema,
      errors: ["FLOW_RUN_NOT_FOUND"],
      handle: async ({ body }) => {
        await db.logs.insert(body.logs);
        return { count: body.logs.length };
      },
    }),
    route({
      method: "post",
      path: "/api/run-writes",
      operationId: "writeRuns",
      summary:
        "Apply writes of many runs in one transaction (flow-run states, task-run states, logs), each whole or refused alone: one stale or invalid write answers its own error and the others are applied, in order, except the later writes of the same run, which are not applied (RUN_WRITE_SKIPPED); answers one result per write, in order.",
      scope: "agent",
      body: runWritesRequestSchema,
      response: runWritesResponseSchema,
      errors: [],
      handle: async ({ body }) => ({
        results: await db.runs.writeBatch(body.writes, statusOfCode),
      }),
    }),

    // ── agents ──
    route({
      method: "post",
      path: "/api/agents",
      operationId: "registerAgent",
      summary: "Register an agent (one of the same name keeps its id and gets the new labels).",
      scope: "agent",
      body: registerAgentRequestSchema,
      response: agentRecordSchema,
      errors: ["AGENT_NAME_TAKEN"],
      // A token owns the names it registers (an open server has no tokens: nothing to bind).
      handle: ({ body, caller }) =>
        db.agents.register(
          body,
          caller.kind === "token"
            ? { tokenId: caller.token.id, takeOver: allows(caller.token.scopes, "admin") }
            : undefined,
        ),
    }),
    route({
      method: "get",
      path: "/api/agents",
      operationId: "listAgents",
      summary: "Every registered agent.",
      scope: "read",
      response: listSchema(agentRecordSchema),
      errors: [],
      handle: async () => ({ items: await db.agents.list() }),
    }),
    route({
      method: "get",
      path: "/api/agents/:id",
      operationId: "getAgent",
      summary: "One agent.",
      scope: "read",
      response: agentRecordSchema,
      errors: ["AGENT_NOT_FOUND"],
      handle: ({ params }) => db.agents.get(params.id!),
    }),
    route({
      method: "post",
      path: "/api/agents/:id/heartbeat",
      operationId: "heartbeatAgent",
      summary:
        "Record that an agent is alive; with `runs` (the runs it holds), its claimed runs missing from the list go back to Scheduled; with `runStates` too, every listed run's heartbeat is recorded and the listed runs being cancelled are answered in `cancelling` (each run's own answer, as its heartbeat route would give it).",
      scope: "agent",
      body: agentHeartbeatRequestSchema,
      response: agentHeartbeatResponseSchema,
      errors: ["AGENT_NOT_FOUND"],
      handle: ({ params, body }) =>
        db.agents.heartbeat(
          params.id!,
          body.runs === undefined
            ? undefined
            : {
                holding: body.runs,
                claimedBefore: new Date(Date.now() - (deps.claimAnswerGraceMs ?? 10_000)),
                runStates: body.runStates === true,
              },
        ),
    }),
    route({
      method: "post",
      path: "/api/agents/:id/claim",
      operationId: "claimFlowRuns",
      summary:
        "Claim up to `limit` due runs whose labels are all on the agent; with `waitMs`, wait until one becomes due (long poll).",
      scope: "agent",
      body: claimRequestSchema,
      response: claimResponseSchema,
      errors: ["AGENT_NOT_FOUND"],
      handle: async ({ params, body, signal }) => ({
        runs: await claimWithWait(db, params.id!, body.limit, body.waitMs, signal, {
          ...(deps.claimPollMs === undefined ? {} : { pollMs: deps.claimPollMs }),
        }),
      }),
    }),

    // ── concurrency limits ──
    route({
      method: "get",
      path: "/api/limits",
      operationId: "listConcurrencyLimits",
      summary: "Every concurrency limit by tag, with the task runs holding its slots.",
      scope: "read",
      response: listSchema(concurrencyLimitRecordSchema),
      errors: [],
      handle: async () => ({ items: await db.limits.list() }),
    }),
    route({
      method: "post",
      path: "/api/limits",
      operationId: "setConcurrencyLimit",
      summary:
        "Set a tag's concurrency limit: at most `limit` task runs carrying the tag run at once, across all runs and agents.",
      scope: "admin",
      body: setConcurrencyLimitRequestSchema,
      response: concurrencyLimitRecordSchema,
      errors: [],
      handle: ({ body }) => db.limits.set(body.tag, body.limit),
    }),
    route({
      method: "post",
      path: "/api/limits/delete",
      operationId: "deleteConcurrencyLimit",
      summary:
        "Remove a tag's concurrency limit (its waiting task runs start); answers the limit as it was.",
      scope: "admin",
      body: deleteConcurrencyLimitRequestSchema,
      response: concurrencyLimitRecordSchema,
      errors: ["LIMIT_NOT_FOUND"],
      handle: ({ body }) => db.limits.delete(body.tag),
    }),
    route({
      method: "post",
      path: "/api/flow-runs/:id/slots/acquire",
      operationId: "acquireTaskSlots",
      summary:
        "Take one slot of each limited tag for a task run, all or none; with `waitMs`, wait until they are free (long poll).",
      scope: "agent",
      body: acquireSlotsRequestSchema,
      response: acquireSlotsResponseSchema,
      errors: ["FLOW_RUN_NOT_FOUND", "STALE_VERSION", "INVALID_TRANSITION"],
      handle: ({ params, body, signal }) => acquireWithWait(db, params.id!, body, signal),
    }),
    route({
      method: "post",
      path: "/api/flow-runs/:id/slots/release",
      operationId: "releaseTaskSlots",
      summary: "Free the concurrency slots a task run holds (its final state frees them too).",
      scope: "agent",
      body: releaseSlotsRequestSchema,
      response: releaseSlotsResponseSchema,
      errors: [],
      handle: async ({ params, body }) => ({
        released: await db.limits.release(params.id!, body.slug, body.mapIndex),
      }),
    }),

    // ── tokens ──
    route({
      method: "get",
      path: "/api/tokens",
      operationId: "listTokens",
      summary: "Every API token's record (never a secret).",
      scope: "admin",
      response: listSchema(apiTokenSchema),
      errors: [],
      handle: async () => ({ items: await db.tokens.list() }),
    }),
    route({
      method: "post",
      path: "/api/tokens",
      operationId: "createToken",
      summary: "Make a token; its secret is in this answer only.",
      scope: "admin",
      body: createTokenRequestSchema,
      response: createTokenResponseSchema,
      errors: [],
      created: "always",
      handle: ({ body }) => db.tokens.create(body),
    }),
    route({
      method: "post",
      path: "/api/tokens/:id/revoke",
      operationId: "revokeToken",
      summary: "Revoke a token by id or name (takes effect within the server's token cache time).",
      scope: "admin",
      response: apiTokenSchema,
      errors: ["TOKEN_NOT_FOUND"],
      handle: ({ params }) => db.tokens.revoke(params.id!),
    }),

    // ── web UI ──
    route({
      method: "get",
      path: "/api/dashboard",
      operationId: "getDashboard",
      summary:
        "The dashboard's aggregates: finished runs per time bucket and final state since `since`, the last 24 h's failures with their failing task, agents with the runs they hold, due Scheduled runs with why they wait, and the distributed executor's live workers when the server was given their Redis.",
      scope: "read",
      query: dashboardQuerySchema,
      response: dashboardResponseSchema,
      errors: [],
      handle: async ({ query }) => {
        const [summary, workers] = await Promise.all([
          db.dashboard.summary(query),
          listWorkers(deps.workers),
        ]);
        return { ...summary, workers };
      },
    }),

    // ── live events (server-sent events) ──
    eventRoute({
      path: "/api/events",
      operationId: "followEvents",
      summary:
        "A stream of server-sent events: `ready` first (fetch what you show then), then `run` for each run created or changed and `agent` for each agent registered or heard from, as this server replica writes them.",
      scope: "read",
      events: eventsOf(ALL_RUNS_EVENT_TYPES),
      errors: ["TOO_MANY_STREAMS"],
      handle: async ({ caller }) => live.openStream({ kind: "all" }, readsOnly(caller)),
    }),
    eventRoute({
      path: "/api/flow-runs/:id/events",
      operationId: "followFlowRun",
      summary:
        "A stream of server-sent events of one run: `ready` first (fetch the run then), then `run` (its record), `task-runs` (the task runs a write changed) and `logs` (new log records), as this server replica writes them.",
      scope: "read",
      events: eventsOf(FLOW_RUN_EVENT_TYPES),
      errors: ["FLOW_RUN_NOT_FOUND", "TOO_MANY_STREAMS"],
      handle: async ({ params, caller }) => {
        await db.runs.get(params.id!);
        return live.openStream({ kind: "run", runId: params.id! }, readsOnly(caller));
      },
    }),
  ];
}

/**
 * Refuses a flow whose schedule cannot run, or that an agent would refuse to
 * deploy (unknown kinds, module storage unless allowed, a location outside its
 * storage, a credential in its settings).
 */
function checkFlow(flow: SerializedFlow, rules: DeploymentRules | undefined): void {
  if (flow.schedule !== undefined) {
    try {
      scheduleFromJSON(flow.schedule);
    } catch (error) {
      const field =
        flow.schedule.type === "cron"
          ? "flow.schedule.expression"
          : `flow.schedule (${flow.schedule.type})`;
      throw new WeftError(
        "INVALID_SCHEDULE",
        `${field}: ${(error as Error).message}`,
        isWeftError(error) && error.hint !== undefined
          ? { hint: error.hint, cause: error }
          : { cause: error },
      );
    }
  }
  checkDeployment(flow, rules);
}
