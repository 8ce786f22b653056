import { type Command, Option } from "commander";
import { type ApiClient, createApiClient } from "../client/api-client.ts";

/** The flags of every command that talks to the API. */
export interface ApiFlags {
  api: string;
  token?: string;
  json?: boolean;
}

/** The default API address (`weft server start`'s default). */
export const DEFAULT_API_URL = "http://127.0.0.1:4200";

/** Adds `--api` (WEFT_API_URL), `--token` (WEFT_API_TOKEN) and `--json` to a command. */
export function addApiFlags(command: Command, scope: "read" | "agent" | "admin"): Command {
  return command
    .addOption(
      new Option("--api <url>", "the weft API").env("WEFT_API_URL").default(DEFAULT_API_URL),
    )
    .addOption(
      new Option("--token <token>", `an API token with the ${scope} scope`).env("WEFT_API_TOKEN"),
    )
    .option("--json", "print one JSON document on stdout");
}

/** The client the flags describe. */
export function clientFromFlags(flags: ApiFlags): ApiClient {
  return createApiClient({ url: flags.api, token: flags.token });
}
