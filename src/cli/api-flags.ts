import { type Command, Option } from "commander";
import type { ApiClient } from "../client/api-client.ts";

/** The flags of every command that talks to the API. */
export interface ApiFlags {
  api: string;
  token?: string;
  json?: boolean;
}

/** The default API address (`weft server start`'s default). */
export const DEFAULT_API_URL = "http://127.0.0.1:4200";

/**
 * Adds `--api` (WEFT_API_URL), `--token` (WEFT_API_TOKEN) and, for commands
 * that report something, `--json` to a command.
 */
export function addApiFlags(
  command: Command,
  scope: "read" | "agent" | "admin",
  options: { json?: boolean } = {},
): Command {
  command
    .addOption(
      new Option("--api <url>", "the weft API").env("WEFT_API_URL").default(DEFAULT_API_URL),
    )
    .addOption(
      new Option("--token <token>", `an API token with the ${scope} scope`).env("WEFT_API_TOKEN"),
    );
  return options.json === false
    ? command
    : command.option("--json", "print one JSON document on stdout");
}

/** The client the flags describe (loaded here, so that commands that never call the API never load it). */
export async function clientFromFlags(flags: ApiFlags): Promise<ApiClient> {
  const { createApiClient } = await import("../client/api-client.ts");
  return createApiClient({ url: flags.api, token: flags.token });
}

/** One page of a list, as the client answers it. */
type PageOf<T> = { items: T[]; nextCursor?: string | undefined };

/**
 * Reads pages until `limit` items or the last page; `onPage` hears each page
 * as it comes (to print while reading).
 */
export async function collectPages<T>(
  limit: number,
  pageSize: number,
  read: (limit: number, cursor: string | undefined) => Promise<PageOf<T>>,
  onPage?: (items: T[]) => void,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await read(Math.min(pageSize, limit - items.length), cursor);
    onPage?.(page.items);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined && items.length < limit);
  return items;
}
