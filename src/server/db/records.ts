import type { Selectable } from "kysely";
import { WeftError } from "../../core/errors.ts";
import type {
  AgentRecord,
  ApiToken,
  ChildRunSummary,
  FlowDetail,
  FlowRunRecord,
  FlowSummary,
  TaskRunRecord,
  TokenScope,
} from "../../serialization/api-schemas.ts";
import { badIdReason, LIMITS } from "../../serialization/limits.ts";
import type {
  SerializedFlow,
  SerializedSchedule,
  SerializedState,
  TypedObject,
} from "../../serialization/schemas.ts";
import { isTimeInRange, TIME_RANGE_MESSAGE } from "../../serialization/schemas.ts";
import type {
  AgentsTable,
  ApiTokensTable,
  FlowRunsTable,
  FlowsTable,
  TaskRunsTable,
} from "./tables.ts";

// Rows → the API's records. Optional members are left out when the column is null
// (the API types use exactOptionalPropertyTypes).

/** A flows row. */
export type FlowRow = Selectable<FlowsTable>;
/** A flow_runs row. */
export type FlowRunRow = Selectable<FlowRunsTable>;
/** A task_runs row. */
export type TaskRunRow = Selectable<TaskRunsTable>;

/**
 * The text a time column holds: `YYYY-MM-DDTHH:mm:ss.sssZ`, always in UTC with
 * milliseconds and a year in 1970–9999, so fixed-width: both dialects compare it
 * as text exactly as they would as times. Anything else (another offset, no
 * milliseconds) is normalised; a time outside the range is INVALID_REQUEST
 * naming `field` (the API refuses it before; this guards every other caller).
 */
export function isoText(time: Date | string, field = "time"): string {
  // Always through Date: even a string of the right shape may name a day that does not exist.
  const ms = typeof time === "string" ? Date.parse(time) : time.getTime();
  if (!isTimeInRange(ms)) {
    throw new WeftError(
      "INVALID_REQUEST",
      `${field}: ${JSON.stringify(typeof time === "string" ? time : String(time))} ${TIME_RANGE_MESSAGE}`,
      { hint: "give an ISO 8601 time such as 2030-01-01T09:00:00Z" },
    );
  }
  return new Date(ms).toISOString();
}

/** The flow's summary (no graph). */
export function toFlowSummary(row: FlowRow): FlowSummary {
  return {
    id: row.id,
    name: row.name,
    versionGroup: row.version_group,
    version: row.version,
    contentHash: row.content_hash,
    labels: JSON.parse(row.labels) as string[],
    ...(row.schedule === null ? {} : { schedule: JSON.parse(row.schedule) as SerializedSchedule }),
    ...(row.storage === null ? {} : { storage: JSON.parse(row.storage) as TypedObject }),
    ...(row.environment === null
      ? {}
      : { environment: JSON.parse(row.environment) as TypedObject }),
    ...(row.location === null ? {} : { location: row.location }),
    archived: row.archived === 1,
    createdAt: row.created_at,
  };
}

/** The flow version with its serialized graph. */
export function toFlowDetail(row: FlowRow): FlowDetail {
  return { ...toFlowSummary(row), flow: JSON.parse(row.flow) as SerializedFlow };
}

/** A flow run as the API shows it. */
export function toFlowRunRecord(row: FlowRunRow): FlowRunRecord {
  return {
    id: row.id,
    flowId: row.flow_id,
    flowName: row.flow_name,
    flowVersion: row.flow_version,
    name: row.name,
    parameters: JSON.parse(row.parameters) as FlowRunRecord["parameters"],
    labels: JSON.parse(row.labels) as string[],
    state: JSON.parse(row.state) as SerializedState,
    version: row.version,
    scheduledStart: row.scheduled_start,
    ...(row.start_time === null ? {} : { startTime: row.start_time }),
    ...(row.end_time === null ? {} : { endTime: row.end_time }),
    ...(row.agent_id === null ? {} : { agentId: row.agent_id }),
    ...(row.heartbeat_at === null ? {} : { heartbeatAt: row.heartbeat_at }),
    ...(row.idempotency_key === null ? {} : { idempotencyKey: row.idempotency_key }),
    autoScheduled: row.auto_scheduled === 1,
    rescheduleCount: row.reschedule_count,
    claimCount: row.claim_count,
    createdAt: row.created_at,
    ...(row.parent_run_id === null ? {} : { parentRunId: row.parent_run_id }),
    ...(row.parent_task_run === null ? {} : { parentTaskRun: row.parent_task_run }),
    ...(row.resumed_from == null ? {} : { resumedFrom: row.resumed_from }),
    ...(row.approved == null ? {} : { approved: JSON.parse(row.approved) as string[] }),
  };
}

/** A run a task of another run created, as its parent's detail lists it. */
export function toChildRunSummary(
  row: Pick<FlowRunRow, "id" | "name" | "flow_name" | "state" | "parent_task_run">,
): ChildRunSummary {
  return {
    id: row.id,
    name: row.name,
    flowName: row.flow_name,
    state: JSON.parse(row.state) as SerializedState,
    ...(row.parent_task_run === null ? {} : { parentTaskRun: row.parent_task_run }),
  };
}

/** A task run as the API shows it (map index -1 in the table means "none"). */
export function toTaskRunRecord(row: Omit<TaskRunRow, "history">): TaskRunRecord {
  return {
    id: String(row.id),
    flowRunId: row.flow_run_id,
    slug: row.slug,
    ...(row.map_index < 0 ? {} : { mapIndex: row.map_index }),
    state: JSON.parse(row.state) as SerializedState,
    version: row.version,
    attempts: row.attempts,
    ...(row.start_time === null ? {} : { startTime: row.start_time }),
    ...(row.end_time === null ? {} : { endTime: row.end_time }),
    ...(row.result_ref === null ? {} : { resultRef: row.result_ref }),
  };
}

/** An agent. */
export function toAgentRecord(row: Selectable<AgentsTable>): AgentRecord {
  return {
    id: row.id,
    name: row.name,
    labels: JSON.parse(row.labels) as string[],
    concurrency: row.concurrency,
    lastSeen: row.last_seen,
    createdAt: row.created_at,
  };
}

/** A token's record (never its hash). */
export function toApiToken(row: Selectable<ApiTokensTable>): ApiToken {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as TokenScope[],
    createdAt: row.created_at,
    ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at }),
  };
}

/** An opaque page cursor for a row's sort key. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/**
 * What a cursor's part may hold: a bounded NUL-free string, an integer column's
 * value (0 to 2^31 - 1), or an auto-numbered key's (0 to 2^53 - 1), so that a
 * forged cursor is refused the same way on both dialects and never reaches SQL.
 */
const CURSOR_PART = {
  string: (v: unknown) => typeof v === "string" && badIdReason(v, LIMITS.location) === undefined,
  number: (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= LIMITS.int,
  serial: (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0,
} as const;

/** The sort key in a cursor this database made; INVALID_REQUEST for anything else. */
export function decodeCursor<T extends readonly (string | number)[]>(
  cursor: string,
  shape: readonly (keyof typeof CURSOR_PART)[],
): T {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    key = undefined;
  }
  if (
    !Array.isArray(key) ||
    key.length !== shape.length ||
    key.some((v, i) => !CURSOR_PART[shape[i]!](v))
  ) {
    const shown = cursor.length > 80 ? `${cursor.slice(0, 77)}…` : cursor;
    throw new WeftError("INVALID_REQUEST", `cursor ${JSON.stringify(shown)} is not valid`, {
      hint: "pass the nextCursor of the previous page unchanged",
    });
  }
  return key as unknown as T;
}

/** `items` split in pieces of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
