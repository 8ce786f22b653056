// What an agent's host gives its runs, from `weft agent start` / `weft up` flags and variables:
// the container engine and the host directories containers may mount.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import {
  type AgentHostFlags,
  addAgentHostFlags,
  agentHostOf,
} from "../../src/cli/agent-host-flags.ts";

function parse(argv: string[], env: Record<string, string> = {}): ReturnType<typeof agentHostOf> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const command = addAgentHostFlags(new Command("agent").exitOverride());
    command.parse(argv, { from: "user" });
    return agentHostOf(command.opts<AgentHostFlags>());
  } finally {
    for (const name of Object.keys(env)) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  }
}

test("--allow-mount repeats; --container-host names the engine", () => {
  assert.deepEqual(
    parse([
      "--allow-mount",
      "/data",
      "--allow-mount",
      "/srv/in",
      "--container-host",
      "unix:///x.sock",
    ]),
    { containerHost: "unix:///x.sock", allowMounts: ["/data", "/srv/in"] },
  );
  assert.deepEqual(parse([]), {}, "nothing allowed by default");
});

test("WEFT_ALLOW_MOUNTS takes a comma-separated list, WEFT_CONTAINER_HOST the engine", () => {
  assert.deepEqual(
    parse([], { WEFT_ALLOW_MOUNTS: "/data,/srv/in", WEFT_CONTAINER_HOST: "unix:///y.sock" }),
    { containerHost: "unix:///y.sock", allowMounts: ["/data", "/srv/in"] },
  );
  assert.deepEqual(parse(["--allow-mount", "/only"], { WEFT_ALLOW_MOUNTS: "/data" }), {
    allowMounts: ["/only"],
  });
});
