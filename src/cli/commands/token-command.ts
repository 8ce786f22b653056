import { type Command, Option } from "commander";
import type { ApiToken } from "../../serialization/api-schemas.ts";
import { TOKEN_SCOPES, type TokenScope } from "../../serialization/token-scopes.ts";
import type { ServerDb } from "../../server/db/server-db.ts";
import type { CliContext } from "../context.ts";
import { CliError, EXIT, table } from "../output.ts";
import { dbOption, describeDb, resolveDb } from "./server-command.ts";

interface TokenFlags {
  db?: string;
  json?: boolean;
}

async function withStore<T>(
  flags: TokenFlags,
  body: (serverDb: ServerDb) => Promise<T>,
): Promise<T> {
  const { openServerDb } = await import("../../server/db/open-server-db.ts");
  const serverDb = await openServerDb({ db: resolveDb(flags.db) });
  try {
    return await body(serverDb);
  } finally {
    await serverDb.close();
  }
}

/** A token's widest scope (`read` ⊂ `agent` ⊂ `admin`). */
function scopeOf(token: ApiToken): string {
  for (const s of [...TOKEN_SCOPES].reverse()) if (token.scopes.includes(s)) return s;
  return "";
}

/**
 * `weft token create | revoke | ls`: API tokens, managed in the database itself
 * (--db), so that the first token exists before any server needs one.
 */
export function registerTokenCommand(program: Command, cli: CliContext): void {
  const token = program
    .command("token")
    .summary("create, revoke and list API tokens")
    .description(
      "API tokens with a scope: read (GET routes) ⊂ agent (claims, states, logs, runs, flows) ⊂ admin (tokens). They are stored hashed in the database given by --db, so these commands work whether or not a server runs.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  weft token create --name ci --scope agent\n  weft token ls\n",
    );

  token
    .command("create")
    .summary("make a token and print its secret (shown only this once)")
    .requiredOption("--name <name>", "a name for people (unique among active tokens)")
    .addOption(
      new Option("--scope <scope>", "read | agent | admin")
        .choices(TOKEN_SCOPES)
        .makeOptionMandatory(),
    )
    .addOption(dbOption())
    .option("--json", "print one JSON document (record and secret) on stdout")
    .addHelpText(
      "after",
      "\nExamples:\n  weft token create --name ci --scope agent\n  WEFT_API_TOKEN=$(weft token create --name me --scope admin --db postgres://weft@db/weft)\n",
    )
    .action(async (flags: TokenFlags & { name: string; scope: TokenScope }) => {
      // The API's limits for a name, checked before the database is opened: PostgreSQL
      // would refuse a name too long for its index with an error that names neither.
      const { badIdReason, LIMITS } = await import("../../serialization/limits.ts");
      const bad = badIdReason(flags.name, LIMITS.name);
      if (bad !== undefined)
        throw new CliError(`--name ${bad}`, EXIT.usage, "USAGE", "give the token a short name");
      const created = await withStore(flags, (serverDb) =>
        serverDb.tokens.create({ name: flags.name, scopes: [flags.scope] }),
      );
      if (flags.json) {
        cli.stdout.write(`${JSON.stringify(created)}\n`);
        return;
      }
      cli.stderr.write(
        `token ${created.token.name} (${created.token.id}), scope ${flags.scope}, in ${describeDb(resolveDb(flags.db))}; the secret below is shown only now\n`,
      );
      cli.stdout.write(`${created.secret}\n`);
    });

  token
    .command("revoke")
    .summary("revoke a token by id or name")
    .argument("<id|name>", "the token")
    .addOption(dbOption())
    .option("--json", "print the revoked token's record on stdout")
    .addHelpText("after", "\nExamples:\n  weft token revoke ci\n")
    .action(async (idOrName: string, flags: TokenFlags) => {
      const revoked = await withStore(flags, (serverDb) => serverDb.tokens.revoke(idOrName));
      if (flags.json) cli.stdout.write(`${JSON.stringify(revoked)}\n`);
      else
        cli.stdout.write(
          `revoked token ${revoked.name} (${revoked.id}); a running server refuses it within seconds\n`,
        );
    });

  token
    .command("ls")
    .summary("list tokens (never their secrets)")
    .addOption(dbOption())
    .option("--json", "print one JSON document on stdout")
    .addHelpText(
      "after",
      "\nExamples:\n  weft token ls\n  weft token ls --json | jq '.items[].name'\n",
    )
    .action(async (flags: TokenFlags) => {
      const tokens = await withStore(flags, (serverDb) => serverDb.tokens.list());
      if (flags.json) {
        cli.stdout.write(`${JSON.stringify({ items: tokens })}\n`);
        return;
      }
      const rows = tokens.map((t) => [
        t.name,
        t.id,
        scopeOf(t),
        t.createdAt,
        t.revokedAt === undefined ? "active" : `revoked ${t.revokedAt}`,
      ]);
      if (cli.stdout.isTTY)
        cli.stdout.write(table(["NAME", "ID", "SCOPE", "CREATED", "STATUS"], rows));
      else for (const row of rows) cli.stdout.write(`${row.join("\t")}\n`);
    });
}
