import { type Command, Option } from "commander";
import { collect } from "./context.ts";

/** The flags of what an agent's host gives its runs (`weft agent start`, `weft up`). */
export interface AgentHostFlags {
  containerHost?: string;
  allowMount?: string[];
}

/** Adds `--container-host` and `--allow-mount` (repeatable) with their variables. */
export function addAgentHostFlags(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--container-host <url>",
        "the container engine for container runs (unix:///path.sock or tcp://host:port; default Docker's, then Podman's socket)",
      ).env("WEFT_CONTAINER_HOST"),
    )
    .addOption(
      new Option(
        "--allow-mount <dir>",
        "a host directory container runs may mount (repeat for more; WEFT_ALLOW_MOUNTS takes a comma-separated list); other mounts are refused",
      )
        .env("WEFT_ALLOW_MOUNTS")
        .argParser((value: string, previous: string[] | undefined) =>
          value.includes(",") && previous === undefined
            ? value.split(",").filter((v) => v.trim() !== "")
            : collect(value, previous ?? []),
        ),
    );
}

/** The agent's `host` option from the flags. */
export function agentHostOf(flags: AgentHostFlags): {
  containerHost?: string;
  allowMounts?: string[];
} {
  return {
    ...(flags.containerHost === undefined ? {} : { containerHost: flags.containerHost }),
    ...(flags.allowMount === undefined ? {} : { allowMounts: flags.allowMount }),
  };
}
