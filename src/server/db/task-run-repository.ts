// Task runs: the states a flow-run process reports for its tasks, written in
// batches (task-run-batch.ts holds the algorithm).
//
// Invariants: a batch is one transaction, all or none; it locks its flow runs, so
// batches of one run and claims serialize; every write carries the task run's row
// version (STALE_VERSION unless current, except an exact repeat, so a retried
// batch is idempotent) and, from an agent, the run's claim, so a process of an
// older claim cannot write over a rescheduled run.
import type { TaskRunRecord, TaskRunStateWrite } from "../../serialization/api-schemas.ts";
import type { ChangeFeed } from "./change-feed.ts";

import { toTaskRunRecord } from "./records.ts";
import type { SqlContext } from "./sql-context.ts";
import { applyTaskRunStates, type ChangedTaskRuns, publishTaskRuns } from "./task-run-batch.ts";

/** Task runs of flow runs. */
export class TaskRunRepository {
  constructor(
    private readonly ctx: SqlContext,
    private readonly feed: ChangeFeed,
  ) {}

  /**
   * Applies many task-run state writes in one transaction, all or none; returns
   * each new version. After the commit, the changed task runs of the runs someone
   * follows go to the change feed, one change per flow run.
   */
  async setStates(writes: readonly TaskRunStateWrite[]): Promise<number[]> {
    if (writes.length === 0) return [];
    const changes: ChangedTaskRuns | undefined = this.feed.wantsRun()
      ? { wants: (id) => this.feed.wantsTasks(id), rows: [] }
      : undefined;
    const versions = await this.ctx.write((trx) => {
      // A retried transaction (SQLite busy, a lost race) starts with no rows collected.
      if (changes !== undefined) changes.rows.length = 0;
      return applyTaskRunStates(this.ctx.connection, trx, writes, changes);
    });
    if (changes !== undefined) publishTaskRuns(this.feed, changes.rows);
    return versions;
  }

  /** The task runs of a flow run by slug and map index (FLOW_RUN_NOT_FOUND if the run is not there). */
  async list(flowRunId: string): Promise<TaskRunRecord[]> {
    const rows = await this.ctx.db
      .selectFrom("task_runs")
      .selectAll()
      .where("flow_run_id", "=", flowRunId)
      .orderBy("slug")
      .orderBy("map_index")
      .execute();
    if (rows.length === 0) await this.ctx.runRow(flowRunId);
    return rows.map(toTaskRunRecord);
  }
}
