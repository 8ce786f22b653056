// A real server (SQLite in a temp dir, or a fresh PostgreSQL schema) on an
// ephemeral port, for agent and reporter tests, plus helpers to register flows
// and wait for runs. Everything made is closed and removed in `close()`.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Agent, type AgentOptions, startAgent } from "../../src/agent/agent.ts";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import type { Flow } from "../../src/core/flow.ts";
import type { Logger } from "../../src/core/reporter.ts";
import type { Environment } from "../../src/environments/environment.ts";
import { createLocalEnvironment } from "../../src/environments/local-environment.ts";
import { environmentRegistry } from "../../src/environments/registry.ts";
import type { FlowRunDetail } from "../../src/serialization/api-schemas.ts";
import { serializeFlowGraph } from "../../src/serialization/flow-serializer.ts";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/server.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { storageRegistry } from "../../src/storage/registry.ts";
import { createSchema, dropSchema, POSTGRES_URL, withSearchPath } from "../server/dialects.ts";

/** A logger that keeps its lines, for assertions. */
export function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A running test server and what tests do with it. */
export interface TestServer {
  readonly server: RunningServer;
  readonly api: ApiClient;
  readonly dir: string;
  readonly db: string;
  /** Registers `flow` built into local storage under `dir`, labelled with `labels` only. */
  register(
    flow: Flow<unknown>,
    options?: { labels?: string[]; environment?: Environment },
  ): Promise<string>;
  /** Starts an agent against this server (stopped in `close()`). */
  agent(options?: Partial<AgentOptions>): Agent;
  /** Polls until the run is in one of `types` (Finished by default); fails after `timeoutMs`. */
  waitFor(runId: string, types?: readonly string[], timeoutMs?: number): Promise<FlowRunDetail>;
  /** Stops the server (not the agents); `restart()` starts it again on the same port and database. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

const FINISHED = [
  "Success",
  "Failed",
  "Cancelled",
  "TimedOut",
  "TriggerFailed",
  "Skipped",
  "Cached",
];

/** Starts a server on `dialect` (PostgreSQL only when WEFT_TEST_POSTGRES_URL is set). */
export async function startTestServer(
  dialect: "sqlite" | "postgres" = "sqlite",
  options: Partial<ServerOptions> = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "weft-agent-"));
  let schema: string | undefined;
  let db = join(dir, "weft.db");
  if (dialect === "postgres") {
    schema = await createSchema(POSTGRES_URL!);
    db = withSearchPath(POSTGRES_URL!, schema);
  }
  // Registration checks deployments as `weft server start` does (the CLI passes the registries).
  const start = (port: number) =>
    startServer({
      db,
      port,
      ...options,
      deployment: {
        storage: storageRegistry,
        environment: environmentRegistry,
        ...options.deployment,
      },
    });
  let server = await start(0);
  const port = server.port;
  const api = createApiClient({ url: server.url });
  const agents: Agent[] = [];
  const storage = createLocalStorage({
    directory: join(dir, "flows"),
    cacheDir: join(dir, "cache"),
    hostnameLabel: false,
  });
  let stopped = false;
  return {
    get server() {
      return server;
    },
    api,
    dir,
    db,
    async register(flow, o = {}) {
      const location = storage.addFlow(flow);
      await storage.build();
      const json = serializeFlowGraph(flow, {
        storage,
        environment: o.environment ?? createLocalEnvironment(),
        location,
        labels: o.labels ?? [],
      });
      return (await api.registerFlow(json)).flow.id;
    },
    agent(o = {}) {
      const agent = startAgent({
        api,
        name: `agent-${randomUUID().slice(0, 8)}`,
        logger: recordingLogger(),
        heartbeatIntervalMs: 500,
        claimWaitMs: 1000,
        flushIntervalMs: 20,
        ...o,
      });
      agents.push(agent);
      return agent;
    },
    async waitFor(runId, types = FINISHED, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let last: FlowRunDetail | undefined;
      while (Date.now() < deadline) {
        last = await api.getFlowRun(runId);
        if (types.includes(last.state.type)) return last;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(
        `run ${runId} did not reach ${types.join("|")} in ${timeoutMs} ms: it is ${last?.state.type} (${last?.state.message ?? ""})`,
      );
    },
    async stop() {
      stopped = true;
      await server.close();
    },
    async restart() {
      server = await start(port);
      stopped = false;
    },
    async close() {
      await Promise.all(agents.map((a) => a.stop()));
      if (!stopped) await server.close();
      if (schema !== undefined) await dropSchema(POSTGRES_URL!, schema);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
