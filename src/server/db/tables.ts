import type { Generated } from "kysely";

// The tables as Kysely sees them. Column names are snake_case in SQL; the repositories map
// rows to the API's records themselves (no naming plugin on the hot path). Times are
// ISO 8601 UTC text, which sorts as text on both dialects; booleans are 0/1
// integers; JSON is text (parsed and written by the repositories, so both dialects keep it
// byte for byte).

/** A registered flow version. */
export interface FlowsTable {
  id: string;
  name: string;
  version_group: string;
  version: number;
  content_hash: string;
  /** The whole serialized flow (JSON). */
  flow: string;
  storage: string | null;
  environment: string | null;
  location: string | null;
  /** JSON array of labels. */
  labels: string;
  schedule: string | null;
  archived: number;
  created_at: string;
}

/** A flow run. `version` is the row version every state write must carry. */
export interface FlowRunsTable {
  id: string;
  flow_id: string;
  flow_name: string;
  flow_version: number;
  version_group: string;
  name: string;
  parameters: string;
  /** JSON array: the flow's labels and the run's own. */
  labels: string;
  state_type: string;
  state: string;
  /** When the current state was written (the server's clock). */
  state_at: string;
  version: number;
  scheduled_start: string;
  start_time: string | null;
  end_time: string | null;
  agent_id: string | null;
  heartbeat_at: string | null;
  idempotency_key: string | null;
  auto_scheduled: number;
  reschedule_count: number;
  claim_count: number;
  created_at: string;
  /** The run whose task created this one (flows of flows), if any. */
  parent_run_id: string | null;
  /** That task run: `slug`, or `slug[i]` for a mapped child. */
  parent_task_run: string | null;
  /** The run this one resumes (its persisted results are reused), if any. */
  resumed_from: string | null;
  /** JSON array of the task slugs approved for this run, if any. */
  approved: string | null;
}

/** Every state a flow run went through, oldest first. */
export interface FlowRunStatesTable {
  id: Generated<number>;
  flow_run_id: string;
  /** The row version this state produced. */
  version: number;
  state: string;
  created_at: string;
}

/**
 * A task run. `map_index` is -1 for an unmapped task or a mapped parent (so the
 * unique key works); `history` is the JSON array of its states, version v at index v - 1.
 */
export interface TaskRunsTable {
  id: Generated<number>;
  flow_run_id: string;
  slug: string;
  map_index: number;
  state_type: string;
  state: string;
  version: number;
  attempts: number;
  start_time: string | null;
  end_time: string | null;
  result_ref: string | null;
  history: string;
}

/** A log record. `time` is ms since the epoch, as on the wire. */
export interface LogsTable {
  id: Generated<number>;
  flow_run_id: string;
  task_slug: string | null;
  map_index: number | null;
  level: string;
  time: number;
  message: string;
  fields: string | null;
}

/** An agent, by unique name. */
export interface AgentsTable {
  id: string;
  name: string;
  labels: string;
  concurrency: number;
  last_seen: string;
  created_at: string;
  /** The token that registered the agent and owns its name (null: registered on an open server). */
  token_id: string | null;
}

/** An API token; only the sha256 of its secret part is kept. */
export interface ApiTokensTable {
  id: string;
  name: string;
  secret_hash: string;
  scopes: string;
  created_at: string;
  revoked_at: string | null;
}

/** A concurrency limit: at most `slot_limit` task runs carrying `tag` run at once. */
export interface ConcurrencyLimitsTable {
  tag: string;
  slot_limit: number;
  created_at: string;
  updated_at: string;
}

/** One slot of a tag's limit, held by one task run (`map_index` -1: not a mapped child). */
export interface ConcurrencySlotsTable {
  tag: string;
  slot: number;
  flow_run_id: string;
  task_slug: string;
  map_index: number;
  acquired_at: string;
}

/** The whole schema. */
export interface Tables {
  flows: FlowsTable;
  flow_runs: FlowRunsTable;
  flow_run_states: FlowRunStatesTable;
  task_runs: TaskRunsTable;
  logs: LogsTable;
  agents: AgentsTable;
  api_tokens: ApiTokensTable;
  concurrency_limits: ConcurrencyLimitsTable;
  concurrency_slots: ConcurrencySlotsTable;
}
