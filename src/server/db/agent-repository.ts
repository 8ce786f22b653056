// Agents: the processes that claim runs, by unique name.
//
// Invariants:
// - Registration is idempotent by name: registering a name again updates that
//   agent (labels, concurrency, last seen) and keeps its id.
// - A name belongs to the token that registered it: one upsert statement both
//   decides and writes, so of two tokens racing for a name only one wins; another
//   token gets AGENT_NAME_TAKEN unless the owner's token is revoked or it is an
//   admin's (`takeOver`).
// - A heartbeat that reports what the agent holds gives back, through the run
//   repository's versioned recovery, the Submitted runs whose claim answer never
//   reached it. That is one transaction per run given back, after the heartbeat's
//   own, as before the split: a run that started meanwhile is left alone.
// - Registrations and heartbeats go to the change feed after they committed.
import { randomUUID } from "node:crypto";
import { WeftError } from "../../core/errors.ts";
import type { AgentRecord } from "../../serialization/api-schemas.ts";
import type { ChangeFeed } from "./change-feed.ts";
import { toAgentRecord, toFlowRunRecord } from "./records.ts";
import type { RunRepository } from "./run-repository.ts";
import { agentNotFound, type SqlContext } from "./sql-context.ts";

/** Who registers an agent: a token, and whether it may take over another token's name. */
export interface AgentOwner {
  readonly tokenId: string;
  /** An admin token may re-register any agent's name. */
  readonly takeOver: boolean;
}

/** Registered agents. */
export class AgentRepository {
  constructor(
    private readonly ctx: SqlContext,
    private readonly runs: RunRepository,
    private readonly feed: ChangeFeed,
  ) {}

  /**
   * Registers an agent, or updates the one of that name. With `owner`, the name
   * belongs to the owner's token from then on; another token may re-register it
   * only when it is unowned, its token is revoked, or `owner.takeOver` (admin);
   * else AGENT_NAME_TAKEN.
   */
  async register(
    input: { name: string; labels: string[]; concurrency: number },
    owner?: AgentOwner,
  ): Promise<AgentRecord> {
    const now = this.ctx.now();
    const labels = JSON.stringify([...new Set(input.labels)].sort());
    const tokenId = owner?.tokenId ?? null;
    const row = await this.ctx.write((trx) =>
      trx
        .insertInto("agents")
        .values({
          id: randomUUID(),
          name: input.name,
          labels,
          concurrency: input.concurrency,
          last_seen: now,
          created_at: now,
          token_id: tokenId,
        })
        .onConflict((oc) => {
          const update = oc.column("name").doUpdateSet({
            labels,
            concurrency: input.concurrency,
            last_seen: now,
            ...(owner === undefined ? {} : { token_id: owner.tokenId }),
          });
          if (owner === undefined || owner.takeOver) return update;
          // One statement decides and writes, so two tokens racing for a name cannot both win.
          return update.where((eb) =>
            eb.or([
              eb("agents.token_id", "is", null),
              eb("agents.token_id", "=", owner.tokenId),
              eb.not(
                eb.exists(
                  eb
                    .selectFrom("api_tokens")
                    .select("api_tokens.id")
                    .whereRef("api_tokens.id", "=", "agents.token_id")
                    .where("api_tokens.revoked_at", "is", null),
                ),
              ),
            ]),
          );
        })
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) {
      throw new WeftError(
        "AGENT_NAME_TAKEN",
        `agent name ${JSON.stringify(input.name)} belongs to an agent registered with another token; an agent token may not take over another token's agent`,
        {
          hint: "give this agent another --name, or start it with the token that registered the name (an admin token may take a name over)",
        },
      );
    }
    const agent = toAgentRecord(row);
    if (this.feed.wantsAgents()) this.feed.publish({ kind: "agent", agent });
    return agent;
  }

  /**
   * Records that an agent is alive. With `holding` (the ids of the runs the
   * agent executes or deploys now), its Submitted runs claimed before
   * `claimedBefore` that it does not hold go back to Scheduled at once: their
   * claim committed but its answer never reached the agent.
   */
  async heartbeat(
    id: string,
    report?: { holding: readonly string[]; claimedBefore: Date },
  ): Promise<AgentRecord> {
    const row = await this.ctx.write((trx) =>
      trx
        .updateTable("agents")
        .set({ last_seen: this.ctx.now() })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw agentNotFound(id);
    const agent = toAgentRecord(row);
    if (this.feed.wantsAgents()) this.feed.publish({ kind: "agent", agent });
    if (report !== undefined) {
      const holding = new Set(report.holding);
      const submitted = await this.ctx.db
        .selectFrom("flow_runs")
        .selectAll()
        .where("agent_id", "=", id)
        .where("state_type", "=", "Submitted")
        .where("state_at", "<", report.claimedBefore.toISOString())
        .execute();
      for (const r of submitted) {
        if (holding.has(r.id)) continue;
        // Versioned: a run that started meanwhile is left alone.
        await this.runs.recoverStale({ run: toFlowRunRecord(r), reason: "not-held" }, 0);
      }
    }
    return agent;
  }

  /** An agent by id (AGENT_NOT_FOUND if none). */
  async get(id: string): Promise<AgentRecord> {
    const row = await this.ctx.db
      .selectFrom("agents")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    if (row === undefined) throw agentNotFound(id);
    return toAgentRecord(row);
  }

  /** Every agent, by name. */
  async list(): Promise<AgentRecord[]> {
    const rows = await this.ctx.db.selectFrom("agents").selectAll().orderBy("name").execute();
    return rows.map(toAgentRecord);
  }
}
