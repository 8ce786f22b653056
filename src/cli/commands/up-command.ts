import { hostname } from "node:os";
import { type Command, Option } from "commander";
import { isWeftError } from "../../core/errors.ts";
import { type AgentHostFlags, addAgentHostFlags, agentHostOf } from "../agent-host-flags.ts";
import { type CliContext, positiveInt } from "../context.ts";
import { EXIT, uiLine } from "../output.ts";
import { stderrLogger } from "../stderr-logger.ts";
import { parseLabels } from "./agent-command.ts";
import {
  addEdgeFlags,
  addLoopFlags,
  addWorkerListFlags,
  allowModuleStorageOption,
  dbOption,
  deploymentRules,
  describeDb,
  type EdgeFlags,
  edgeOptions,
  type LoopFlags,
  loopOptions,
  moduleStorageAllowed,
  resolveDb,
  type WorkerListFlags,
  workerListOptions,
} from "./server-command.ts";

interface UpFlags extends LoopFlags, EdgeFlags, AgentHostFlags, WorkerListFlags {
  db?: string;
  host: string;
  port: number;
  labels?: string;
  concurrency: number;
  agent: boolean;
  heartbeatInterval: number;
}

/** The name of the token `weft up` makes for its own agent (replaced at every start). */
const AGENT_TOKEN_NAME = "weft-up-agent";

/** `weft up`: the server, its scheduler and run health, and one local agent, in one process. */
export function registerUpCommand(program: Command, cli: CliContext): void {
  const command = program
    .command("up")
    .summary("start the server and a local agent in one process")
    .description(
      "The one-command orchestrator: the server (SQLite under the weft home by default), its scheduler and run-health loops, and one agent on this machine. Prints the API URL, and the admin token when it makes one (it does when listening beyond loopback and no token exists yet). Then `weft register <file>` and `weft run --remote <flow> --wait` work against it. Stops on SIGTERM or SIGINT.",
    )
    .addOption(dbOption())
    .addOption(
      new Option("--host <host>", "address to listen on").env("WEFT_HOST").default("127.0.0.1"),
    )
    .addOption(
      new Option("--port <port>", "port (0: any free one)")
        .env("WEFT_PORT")
        .default(4200)
        .argParser((v) => (v === "0" ? 0 : positiveInt(v))),
    )
    .option("--labels <a,b>", "extra labels of the local agent (it always carries the hostname)")
    .option("--concurrency <n>", "runs the local agent executes at once", positiveInt, 4)
    .option("--no-agent", "start no agent (server and loops only)")
    .addOption(
      allowModuleStorageOption(
        "accept flows in module storage, and let the local agent import their modules (by path or package name)",
      ),
    )
    .option(
      "--heartbeat-interval <ms>",
      "heartbeat period of the local agent and its runs",
      positiveInt,
      5000,
    );
  addAgentHostFlags(addWorkerListFlags(addEdgeFlags(addLoopFlags(command))))
    .addHelpText(
      "after",
      "\nExamples:\n  weft up\n  weft up --allow-module-storage   # flows in module storage, registered and run on this machine\n  weft register examples/etl.ts && weft run --remote etl --wait\n  weft up --db postgres://weft@db.internal/weft --host 0.0.0.0\n",
    )
    .action(async (flags: UpFlags, command: Command) => {
      const allowModuleStorage = moduleStorageAllowed(command);
      const logger = stderrLogger(cli.stderr);
      const db = resolveDb(flags.db);
      // The server (Hono, Kysely, the drivers) loads only for the commands that serve.
      const { isLoopbackHost, startServer } = await import("../../server/server.ts");
      const { openServerDb } = await import("../../server/db/open-server-db.ts");
      const { apiVariables, startAgent } = await import("../../agent/agent.ts");
      const { createApiClient } = await import("../../client/api-client.ts");
      const loopback = isLoopbackHost(flags.host);

      // Tokens first: beyond loopback the server refuses to start without one,
      // and once any exists the local agent needs its own.
      let adminSecret: string | undefined;
      let agentSecret: string | undefined;
      const serverDb = await openServerDb({ db, logger });
      try {
        if (!loopback && (await serverDb.tokens.countActive()) === 0) {
          adminSecret = (await serverDb.tokens.create({ name: "admin", scopes: ["admin"] })).secret;
        }
        if (flags.agent && (await serverDb.tokens.countActive()) > 0) {
          await serverDb.tokens.revoke(AGENT_TOKEN_NAME).catch((error: unknown) => {
            if (!isWeftError(error) || error.code !== "TOKEN_NOT_FOUND") throw error;
          });
          agentSecret = (
            await serverDb.tokens.create({ name: AGENT_TOKEN_NAME, scopes: ["agent"] })
          ).secret;
        }
      } finally {
        await serverDb.close();
      }

      const server = await startServer({
        db,
        host: flags.host,
        port: flags.port,
        logger,
        ...loopOptions(flags),
        ...edgeOptions(flags),
        deployment: await deploymentRules(allowModuleStorage),
        ...(await workerListOptions(flags)),
      });
      const url = server.url;
      logger.info(`server on ${url} (${describeDb(db)}), scheduler and run health running`);
      cli.stdout.write(`weft is up: ${url}\n`);
      cli.stdout.write(`${uiLine(server)}\n`);
      if (adminSecret !== undefined) {
        cli.stdout.write(`admin token (shown once): ${adminSecret}\n`);
      }
      const labels = parseLabels(flags.labels);
      if (!labels.includes(hostname())) labels.push(hostname());
      const agent = flags.agent
        ? startAgent({
            api: createApiClient({
              // The agent is in this process: it talks to the server over loopback.
              url: loopback ? url : `http://127.0.0.1:${server.port}`,
              token: agentSecret,
            }),
            runEnv: apiVariables(loopback ? url : `http://127.0.0.1:${server.port}`, agentSecret),
            name: `local-${hostname()}`,
            labels,
            concurrency: flags.concurrency,
            heartbeatIntervalMs: flags.heartbeatInterval,
            allowModuleStorage,
            host: agentHostOf(flags),
            logger,
          })
        : undefined;
      await new Promise<void>((resolve) => {
        const stop = cli.onInterrupt(() => {
          void (async () => {
            await agent?.stop();
            await server.close();
            stop();
            logger.info("weft stopped");
            resolve();
          })();
        }, "stopping: the agent finishes its runs, then the server stops (again to quit now)");
      });
      cli.exitCode = EXIT.ok;
    });
}
