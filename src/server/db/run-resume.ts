// Resuming a run (POST /api/flow-runs/:id/resume), for RunRepository.resume
// (kept apart for the size of run-repository.ts).
//
// A resume makes a NEW run of the same flow version, parameters and labels,
// `resumed_from` the given run and with the approved task slugs in `approved`;
// the agent that claims it hands both to the flow-run process (the engine's
// `resume` and `approve`), so tasks whose results the given run persisted are
// read back instead of run again. The new run is an ordinary Scheduled run:
// claimed, health-checked and cancelled like any other.
//
// Decisions:
// - Which runs: a finished one (Failed, Cancelled, Success and their children)
//   or a Paused one. An orchestrated run whose task waits for approval ends
//   Paused (engine/run/final-state.ts rule 6), and its flow-run process has
//   exited, so approving a task is a resume with `approve`; the Paused run
//   then ends Cancelled in the same transaction, its message naming the new
//   run, so no run waits for an approval that went elsewhere. Anything still
//   pending or running is refused (INVALID_TRANSITION): it may yet persist.
// - Slugs are checked against the flow version's tasks (UNKNOWN_TASK, with
//   `details.task`), so a typo is refused here rather than failing the new run.
// - A flow that persists no results under its run id (no result backend, or a
//   template without {flowRunId}) has nothing to resume from: without
//   `approve` the resume would only run everything again, which a user who
//   asked to "re-run from failure" does not expect (side effects twice), so it
//   is refused (RESULT_NOT_PERSISTED; creating a run does that openly). With
//   `approve` it is allowed: approving a waiting task needs a new run whatever
//   the flow persists, as `weft run --approve` does.
// - The new run keeps no parent run (flows of flows): the parent's task waits
//   for the run it started, not for this one.
import type { Kysely } from "kysely";
import { WeftError } from "../../core/errors.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type { SerializedFlow } from "../../serialization/schemas.ts";
import type { FlowRunRow } from "./records.ts";
import { applyRunState } from "./run-state-write.ts";
import { type SqlContext, serverState } from "./sql-context.ts";
import type { Tables } from "./tables.ts";

/** What the new run is made from: the flow version's row and the fields of newRunRow. */
export interface ResumeFields {
  readonly parameters: Record<string, unknown>;
  readonly labels: string[];
  readonly resumedFrom: string;
  readonly approved: string[];
}

/** True when runs of `flow` persist results where a later run can find them (under {flowRunId}). */
export function persistsResults(flow: SerializedFlow): boolean {
  const template = (flow.result as { template?: unknown } | undefined)?.template;
  return typeof template === "string" && template.includes("{flowRunId}");
}

/**
 * In `trx`: checks that run `id` may be resumed with `approve`, inserts the new
 * run that `make` builds, ends a Paused original Cancelled, and returns the new row.
 */
export async function resumeRun(
  ctx: SqlContext,
  trx: Kysely<Tables>,
  id: string,
  approve: readonly string[],
  make: (flowId: string, fields: ResumeFields) => Promise<FlowRunRow>,
): Promise<FlowRunRow> {
  const original = await ctx.runRow(id, trx, true);
  const from = original.state_type as StateType;
  const paused = from === "Paused";
  if (!paused && !isStateA(from, "Finished")) {
    throw new WeftError(
      "INVALID_TRANSITION",
      `flow run ${id} cannot be resumed: it is ${from}; only a finished or Paused run can`,
      { hint: "wait for it to finish, or cancel it first" },
    );
  }
  const flowRow = await ctx.flowRow(original.flow_id, trx);
  const flow = JSON.parse(flowRow.flow) as SerializedFlow;
  const slugs = new Set(flow.tasks.map((t) => t.slug));
  for (const slug of approve) {
    if (!slugs.has(slug)) {
      throw new WeftError(
        "UNKNOWN_TASK",
        `flow "${flow.name}" (version ${flowRow.version}) has no task ${JSON.stringify(slug)} to approve`,
        {
          hint: "approve a task by its slug, as the run's task runs name it",
          details: { task: slug },
        },
      );
    }
  }
  if (approve.length === 0 && !persistsResults(flow)) {
    throw new WeftError(
      "RESULT_NOT_PERSISTED",
      `flow run ${id} cannot be resumed: flow "${flow.name}" persists no results under its run id (${flow.result === undefined ? "no result backend" : "its result template has no {flowRunId}"}), so every task would run again`,
      {
        hint: "start a new run with the same parameters (POST /api/flow-runs), or give the flow a result backend so that its runs can be resumed",
      },
    );
  }
  const row = await make(original.flow_id, {
    parameters: JSON.parse(original.parameters) as Record<string, unknown>,
    labels: JSON.parse(original.labels) as string[],
    resumedFrom: id,
    approved: [...new Set(approve)],
  });
  if (paused) {
    await applyRunState(
      trx,
      original,
      serverState("Cancelled", ctx.now(), `resumed as flow run ${row.id}`),
      ctx.now(),
    );
  }
  return row;
}
