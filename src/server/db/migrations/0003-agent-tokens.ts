import type { Kysely, Migration } from "kysely";

/**
 * An agent's name belongs to the token that registered it (`token_id`, null on an
 * open server): an agent-scope token may no longer re-register, and so take
 * over, another token's agent.
 */
export const agentTokensMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("agents").addColumn("token_id", "text").execute();
  },
};
