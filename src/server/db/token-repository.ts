// API tokens. Invariants: the secret is shown once and only its sha256 is kept
// (tokens.ts); verifying compares in constant time, also when the id is unknown,
// so timing tells nothing; a name is unique among tokens; revoking is idempotent
// and never deletes (an agent's name stays owned by a revoked token until another
// token registers it).
import { WeftError } from "../../core/errors.ts";
import { type ApiToken, TOKEN_SCOPES, type TokenScope } from "../../serialization/api-schemas.ts";
import { toApiToken } from "./records.ts";
import type { SqlContext } from "./sql-context.ts";
import { newTokenSecret, parseTokenSecret, secretMatches } from "./tokens.ts";

const NOT_A_HASH = "0".repeat(64);

/** API tokens. */
export class TokenRepository {
  constructor(private readonly ctx: SqlContext) {}

  /** Makes a token; the secret is returned once and stored only as a hash. */
  async create(input: {
    name: string;
    scopes: TokenScope[];
  }): Promise<{ token: ApiToken; secret: string }> {
    const scopes = [...new Set(input.scopes)];
    const unknown = scopes.find((s) => !(TOKEN_SCOPES as readonly string[]).includes(s));
    if (scopes.length === 0 || unknown !== undefined) {
      throw new WeftError(
        "INVALID_REQUEST",
        unknown === undefined
          ? `token "${input.name}" needs at least one scope`
          : `token "${input.name}": unknown scope ${JSON.stringify(unknown)}`,
        { hint: `scopes: ${TOKEN_SCOPES.join(", ")}` },
      );
    }
    const { id, secret, hash } = newTokenSecret();
    const row = {
      id,
      name: input.name,
      secret_hash: hash,
      scopes: JSON.stringify(scopes),
      created_at: this.ctx.now(),
      revoked_at: null,
    };
    try {
      await this.ctx.write((trx) => trx.insertInto("api_tokens").values(row).execute());
    } catch (error) {
      if (!this.ctx.connection.isUniqueViolation(error)) throw error;
      throw new WeftError("INVALID_REQUEST", `a token named "${input.name}" already exists`, {
        hint: `revoke it first (weft token revoke ${input.name}) or choose another name`,
      });
    }
    return { token: toApiToken(row), secret };
  }

  /** The token's record when `secret` is a valid, unrevoked token (checked in constant time). */
  async verify(secret: string): Promise<ApiToken | undefined> {
    const parsed = parseTokenSecret(secret);
    const row =
      parsed === undefined
        ? undefined
        : await this.ctx.db
            .selectFrom("api_tokens")
            .selectAll()
            .where("id", "=", parsed.id)
            .executeTakeFirst();
    // Compare even when there is nothing to compare with, so timing tells nothing.
    const matches = secretMatches(parsed?.random ?? "", row?.secret_hash ?? NOT_A_HASH);
    if (row === undefined || !matches || row.revoked_at !== null) return undefined;
    return toApiToken(row);
  }

  /** Revokes a token by id or name (idempotent; TOKEN_NOT_FOUND if none). */
  async revoke(idOrName: string): Promise<ApiToken> {
    const now = this.ctx.now();
    return this.ctx.write(async (trx) => {
      const row =
        (await trx
          .selectFrom("api_tokens")
          .selectAll()
          .where("id", "=", idOrName)
          .executeTakeFirst()) ??
        (await trx
          .selectFrom("api_tokens")
          .selectAll()
          .where("name", "=", idOrName)
          .orderBy("revoked_at", "desc")
          .orderBy("created_at", "desc")
          .executeTakeFirst());
      if (row === undefined) {
        throw new WeftError(
          "TOKEN_NOT_FOUND",
          `no token has the id or name ${JSON.stringify(idOrName)}`,
          {
            hint: "`weft token ls` lists the tokens",
          },
        );
      }
      if (row.revoked_at !== null) return toApiToken(row);
      await trx
        .updateTable("api_tokens")
        .set({ revoked_at: now })
        .where("id", "=", row.id)
        .execute();
      return toApiToken({ ...row, revoked_at: now });
    });
  }

  /** Every token, oldest first. */
  async list(): Promise<ApiToken[]> {
    const rows = await this.ctx.db
      .selectFrom("api_tokens")
      .selectAll()
      .orderBy("created_at")
      .execute();
    return rows.map(toApiToken);
  }

  /** How many unrevoked tokens exist (0: the server may run open on loopback). */
  async countActive(): Promise<number> {
    const row = await this.ctx.db
      .selectFrom("api_tokens")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("revoked_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
