// Concurrency limits by task tag (Prefect's task concurrency limits): a tag's
// limit, and the slots task runs carrying the tag hold while they run, across
// every run, agent and server replica.
//
// Invariants:
// - At most `limit` holders per tag: a slot is a row keyed by (tag, slot number),
//   slot numbers run from 0 to limit - 1, and taking one is one conditional insert
//   (`on conflict do nothing`): of two task runs racing for slot k exactly one row
//   lands, as one claim wins a run (run-repository.ts). On PostgreSQL the loser's
//   insert waits for the winner's commit, then finds the key taken and tries the
//   next free number. A lowered limit also refuses while as many holders remain.
// - All or none: the slots of every limited tag of one task run are taken in one
//   transaction; when one tag has no free slot, the transaction rolls back and the
//   answer names that tag.
// - Idempotent: a holder (flow run, task slug, map index) asking again for a tag
//   it holds keeps its slot; releasing what is not held frees nothing.
// - A flow run that is not running holds nothing: its final state and run
//   health's recovery free its slots in the same write (run-state-write.ts,
//   `releaseRunSlots`), and a task run's final state frees that task run's slots
//   (task-run-batch.ts, `releaseTaskRunSlots`), besides the engine's own release.
// - Only an acquisition of a run that may start tasks: not a finished or
//   cancelling run, and from an agent only with the run's current claim.
import type { Kysely } from "kysely";
import { WeftError } from "../../core/errors.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type {
  AcquireSlotsRequest,
  AcquireSlotsResponse,
  ConcurrencyLimitRecord,
  SlotHolder,
} from "../../serialization/api-schemas.ts";
import type { SqlContext } from "./sql-context.ts";
import { runNotFound } from "./sql-context.ts";
import type { Tables } from "./tables.ts";

/** Thrown inside an acquisition to roll it back: `tag` has no free slot. */
class NoFreeSlot {
  constructor(readonly waitingFor: NonNullable<AcquireSlotsResponse["waitingFor"]>) {}
}

/** LIMIT_NOT_FOUND for `tag`. */
function limitNotFound(tag: string): WeftError {
  return new WeftError(
    "LIMIT_NOT_FOUND",
    `no concurrency limit is set for tag ${JSON.stringify(tag)}`,
    {
      hint: "`weft limits list` lists the limits; `weft limits set <tag> <n>` sets one",
    },
  );
}

/** Concurrency limits and their slots. */
export class LimitRepository {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly ctx: SqlContext) {}

  /**
   * Calls `listener` after this process freed slots or changed a limit, so that
   * waiting acquisitions try again at once (other replicas' writes are not
   * seen: waiters also poll). Returns the unsubscribe function.
   */
  onReleased(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch {
        // A listener's failure is its own; the write has committed.
      }
    }
  }

  /** Sets (creates or changes) the limit of `tag`; answers it with its holders. */
  async set(tag: string, limit: number): Promise<ConcurrencyLimitRecord> {
    const now = this.ctx.now();
    await this.ctx.writeRetrying((trx) =>
      trx
        .insertInto("concurrency_limits")
        .values({ tag, slot_limit: limit, created_at: now, updated_at: now })
        .onConflict((oc) => oc.column("tag").doUpdateSet({ slot_limit: limit, updated_at: now }))
        .execute(),
    );
    this.notify();
    return this.get(tag);
  }

  /** The limit of `tag` with its holders (LIMIT_NOT_FOUND if none). */
  async get(tag: string): Promise<ConcurrencyLimitRecord> {
    const found = (await this.list([tag]))[0];
    if (found === undefined) throw limitNotFound(tag);
    return found;
  }

  /** Every limit (or those of `tags`), by tag, each with the task runs holding its slots. */
  async list(tags?: readonly string[]): Promise<ConcurrencyLimitRecord[]> {
    const limits = await this.ctx.db
      .selectFrom("concurrency_limits")
      .selectAll()
      .$if(tags !== undefined, (q) => q.where("tag", "in", tags!))
      .orderBy("tag")
      .execute();
    if (limits.length === 0) return [];
    const slots = await this.ctx.db
      .selectFrom("concurrency_slots")
      .selectAll()
      .where(
        "tag",
        "in",
        limits.map((l) => l.tag),
      )
      .orderBy("tag")
      .orderBy("acquired_at")
      .execute();
    const holders = new Map<string, SlotHolder[]>();
    for (const s of slots) {
      const list = holders.get(s.tag) ?? [];
      list.push({
        flowRunId: s.flow_run_id,
        taskSlug: s.task_slug,
        ...(s.map_index < 0 ? {} : { mapIndex: s.map_index }),
        acquiredAt: s.acquired_at,
      });
      holders.set(s.tag, list);
    }
    return limits.map((l) => {
      const held = holders.get(l.tag) ?? [];
      return {
        tag: l.tag,
        limit: l.slot_limit,
        active: held.length,
        holders: held,
        createdAt: l.created_at,
        updatedAt: l.updated_at,
      };
    });
  }

  /** Removes the limit of `tag` and its slots (LIMIT_NOT_FOUND if none): its task runs no longer wait. */
  async delete(tag: string): Promise<ConcurrencyLimitRecord> {
    const record = await this.get(tag);
    const deleted = await this.ctx.write(async (trx) => {
      await trx.deleteFrom("concurrency_slots").where("tag", "=", tag).execute();
      return trx.deleteFrom("concurrency_limits").where("tag", "=", tag).executeTakeFirst();
    });
    if (Number(deleted.numDeletedRows) === 0) throw limitNotFound(tag);
    this.notify();
    return record;
  }

  /**
   * Takes one slot of each limited tag among `request.tags` for the task run
   * (`request.slug`, `request.mapIndex`) of flow run `flowRunId`, all or none.
   * Tags without a limit need no slot. Answers `acquired: false` naming the
   * first full limit when one has no free slot (nothing is taken then).
   * FLOW_RUN_NOT_FOUND, STALE_VERSION (an older claim), INVALID_TRANSITION (a
   * run that is finished or cancelling starts no task).
   */
  async acquire(
    flowRunId: string,
    request: Omit<AcquireSlotsRequest, "waitMs">,
  ): Promise<AcquireSlotsResponse> {
    const tags = [...new Set(request.tags)].sort();
    const mapIndex = request.mapIndex ?? -1;
    const now = this.ctx.now();
    try {
      return await this.ctx.write(async (trx) => {
        // Locked, so that run health's recovery (which frees the run's slots) and
        // an acquisition of the same run serialize: no slot outlives its run.
        const run = await trx
          .selectFrom("flow_runs")
          .select(["state_type", "claim_count"])
          .where("id", "=", flowRunId)
          .$if(this.ctx.dialect === "postgres", (q) => q.forUpdate())
          .executeTakeFirst();
        if (run === undefined) throw runNotFound(flowRunId);
        if (request.claim !== undefined && request.claim !== run.claim_count) {
          throw new WeftError(
            "STALE_VERSION",
            `flow run ${flowRunId}: claim ${request.claim} is stale, the flow run was claimed again (claim ${run.claim_count})`,
            { hint: "this flow-run process was superseded by a rescheduled run: stop it" },
          );
        }
        const state = run.state_type as StateType;
        if (isStateA(state, "Finished") || state === "Cancelling") {
          throw new WeftError(
            "INVALID_TRANSITION",
            `flow run ${flowRunId} is ${state}: its task ${request.slug} may not start`,
          );
        }
        const limits = await trx
          .selectFrom("concurrency_limits")
          .select(["tag", "slot_limit"])
          .where("tag", "in", tags)
          .orderBy("tag")
          .execute();
        for (const { tag, slot_limit: limit } of limits) {
          await takeSlot(trx, tag, limit, {
            flow_run_id: flowRunId,
            task_slug: request.slug,
            map_index: mapIndex,
            acquired_at: now,
          });
        }
        return { acquired: true };
      });
    } catch (error) {
      if (error instanceof NoFreeSlot) return { acquired: false, waitingFor: error.waitingFor };
      throw error;
    }
  }

  /** Frees the slots the task run holds; answers how many. */
  async release(flowRunId: string, slug: string, mapIndex: number | undefined): Promise<number> {
    const released = await this.ctx.write((trx) =>
      releaseTaskRunSlots(trx, flowRunId, [{ slug, mapIndex: mapIndex ?? -1 }]),
    );
    if (released > 0) this.notify();
    return released;
  }
}

type SlotRow = Omit<Tables["concurrency_slots"], "tag" | "slot">;

/** Inside an acquisition: takes (or keeps) one slot of `tag` for `holder`, or throws NoFreeSlot. */
async function takeSlot(
  trx: Kysely<Tables>,
  tag: string,
  limit: number,
  holder: SlotRow,
): Promise<void> {
  const held = await trx
    .selectFrom("concurrency_slots")
    .select(["slot", "flow_run_id", "task_slug", "map_index"])
    .where("tag", "=", tag)
    .execute();
  const mine = held.some(
    (h) =>
      h.flow_run_id === holder.flow_run_id &&
      h.task_slug === holder.task_slug &&
      h.map_index === holder.map_index,
  );
  if (mine) return;
  const full = new NoFreeSlot({ tag, limit, active: held.length });
  // A limit lowered under its holders' count stays full until enough of them end.
  if (held.length >= limit) throw full;
  const taken = new Set(held.map((h) => h.slot));
  for (let slot = 0; slot < limit; slot++) {
    if (taken.has(slot)) continue;
    // The one conditional write: a concurrent holder of this key wins, and we try the next.
    const row = await trx
      .insertInto("concurrency_slots")
      .values({ tag, slot, ...holder })
      .onConflict((oc) => oc.doNothing())
      .returning("slot")
      .executeTakeFirst();
    if (row !== undefined) return;
  }
  throw full;
}

/** Inside `trx`: frees every slot the flow run's task runs hold (it stopped running). */
export async function releaseRunSlots(trx: Kysely<Tables>, flowRunId: string): Promise<number> {
  const result = await trx
    .deleteFrom("concurrency_slots")
    .where("flow_run_id", "=", flowRunId)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Inside `trx`: frees the slots of the given task runs of one flow run (each
 * finished). One read when the run holds no slot, as almost every run does.
 */
export async function releaseTaskRunSlots(
  trx: Kysely<Tables>,
  flowRunId: string,
  taskRuns: readonly { slug: string; mapIndex: number }[],
): Promise<number> {
  if (taskRuns.length === 0) return 0;
  const held = await trx
    .selectFrom("concurrency_slots")
    .select(["tag", "slot", "task_slug", "map_index"])
    .where("flow_run_id", "=", flowRunId)
    .execute();
  if (held.length === 0) return 0;
  const wanted = new Set(taskRuns.map((t) => `${t.slug}\u0000${t.mapIndex}`));
  let released = 0;
  for (const h of held) {
    if (!wanted.has(`${h.task_slug}\u0000${h.map_index}`)) continue;
    const result = await trx
      .deleteFrom("concurrency_slots")
      .where("tag", "=", h.tag)
      .where("slot", "=", h.slot)
      .where("flow_run_id", "=", flowRunId)
      .executeTakeFirst();
    released += Number(result.numDeletedRows);
  }
  return released;
}
