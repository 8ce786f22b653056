import { join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { weftHome } from "../../core/home.ts";
import type { DeploymentRules } from "../../serialization/deployment.ts";
import type { WorkerDirectory } from "../../server/api/worker-directory.ts";
import { type CliContext, positiveInt } from "../context.ts";
import { uiLine } from "../output.ts";
import { stderrLogger } from "../stderr-logger.ts";

interface ServerFlags extends LoopFlags, EdgeFlags, WorkerListFlags {
  db?: string;
  host: string;
  port: number;
  bodyLimit?: number;
}

/** The flags of the scheduler and run-health loops (`weft server start`, `weft up`). */
export interface LoopFlags {
  loopInterval?: number;
  heartbeatTimeout?: number;
  submittedTimeout?: number;
  agentTimeout?: number;
  maxReschedules?: number;
}

/** The flags of who may reach the server (`weft server start`, `weft up`). */
export interface EdgeFlags {
  allowedHost?: string[];
  allowedOrigin?: string[];
}

/** Collects a repeatable flag; a value (or the variable) may hold several, comma-separated. */
function list(value: string, previous: string[] | undefined): string[] {
  const values = value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
  return [...(previous ?? []), ...values];
}

/** Adds --allowed-host and --allowed-origin (each with its WEFT_ variable) to a command. */
export function addEdgeFlags(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--allowed-host <name>",
        "a host name clients may reach the server by besides its address, localhost and IPs (repeatable; .example.com allows subdomains)",
      )
        .env("WEFT_ALLOWED_HOSTS")
        .argParser(list),
    )
    .addOption(
      new Option(
        "--allowed-origin <url>",
        "a web page origin (https://ui.example.com) that may call the API besides the server's own (repeatable)",
      )
        .env("WEFT_ALLOWED_ORIGINS")
        .argParser(list),
    );
}

/** The `startServer` options the edge flags give. */
export function edgeOptions(flags: EdgeFlags): {
  allowedHosts?: string[];
  allowedOrigins?: string[];
} {
  return {
    ...(flags.allowedHost === undefined ? {} : { allowedHosts: flags.allowedHost }),
    ...(flags.allowedOrigin === undefined ? {} : { allowedOrigins: flags.allowedOrigin }),
  };
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(value)}`);
  return n;
}

/** Adds the loop flags (each with its WEFT_ variable) to a command. */
export function addLoopFlags(command: Command): Command {
  const ms = (flag: string, env: string, what: string) =>
    new Option(`${flag} <ms>`, what).env(env).argParser(positiveInt);
  return command
    .addOption(
      ms(
        "--loop-interval",
        "WEFT_LOOP_INTERVAL",
        "how often the scheduler and run health tick (default 10000 and 5000)",
      ),
    )
    .addOption(
      ms(
        "--heartbeat-timeout",
        "WEFT_HEARTBEAT_TIMEOUT",
        "a Running run unheard for this long is stale (default 25000)",
      ),
    )
    .addOption(
      ms(
        "--submitted-timeout",
        "WEFT_SUBMITTED_TIMEOUT",
        "a claimed run its live agent holds but has not started for this long is stale (default 300000)",
      ),
    )
    .addOption(
      ms(
        "--agent-timeout",
        "WEFT_AGENT_TIMEOUT",
        "an agent unheard for this long is gone: its claimed and running runs are freed (default 20000)",
      ),
    )
    .addOption(
      new Option(
        "--max-reschedules <n>",
        "a stale run goes back to Scheduled this many times, then fails (default 3)",
      )
        .env("WEFT_MAX_RESCHEDULES")
        .argParser(count),
    );
}

/** The flags of where the dashboard finds the distributed executor's workers (`weft server start`, `weft up`). */
export interface WorkerListFlags {
  redis?: string;
  redisPrefix: string;
}

/** Adds --redis and --redis-prefix (WEFT_REDIS_URL, WEFT_REDIS_PREFIX) to a command. */
export function addWorkerListFlags(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--redis <url>",
        "the Redis of the distributed executor's workers, to list them on the web UI's dashboard",
      ).env("WEFT_REDIS_URL"),
    )
    .addOption(
      new Option("--redis-prefix <prefix>", "the workers' BullMQ key prefix (as their --prefix)")
        .env("WEFT_REDIS_PREFIX")
        .default("weft"),
    );
}

/** The `startServer` worker directory the flags give: none without --redis. */
export async function workerListOptions(
  flags: WorkerListFlags,
): Promise<{ workers?: WorkerDirectory }> {
  if (flags.redis === undefined || flags.redis === "") return {};
  const { redisWorkerDirectory } = await import("../worker-directory.ts");
  return {
    workers: await redisWorkerDirectory(
      flags.redis,
      flags.redisPrefix,
      "the dashboard's worker list",
    ),
  };
}

/** The `startServer` loop options the flags give. */
export function loopOptions(flags: LoopFlags): {
  scheduler: { intervalMs?: number };
  runHealth: {
    intervalMs?: number;
    heartbeatTimeoutMs?: number;
    submittedTimeoutMs?: number;
    agentTimeoutMs?: number;
    maxReschedules?: number;
  };
} {
  const interval = flags.loopInterval === undefined ? {} : { intervalMs: flags.loopInterval };
  return {
    scheduler: interval,
    runHealth: {
      ...interval,
      ...(flags.heartbeatTimeout === undefined
        ? {}
        : { heartbeatTimeoutMs: flags.heartbeatTimeout }),
      ...(flags.submittedTimeout === undefined
        ? {}
        : { submittedTimeoutMs: flags.submittedTimeout }),
      ...(flags.agentTimeout === undefined ? {} : { agentTimeoutMs: flags.agentTimeout }),
      ...(flags.maxReschedules === undefined ? {} : { maxReschedules: flags.maxReschedules }),
    },
  };
}

/** The `--db` option (WEFT_DB) of the commands that open the database themselves. */
export function dbOption(): Option {
  return new Option(
    "--db <sqlite path | postgres URL>",
    "the database (default: weft.db under the weft home, ~/.weft or WEFT_HOME)",
  ).env("WEFT_DB");
}

/**
 * `--allow-module-storage` (WEFT_ALLOW_MODULE_STORAGE=1): accept flows in module
 * storage, which has agents import a module by path or package name.
 */
export function allowModuleStorageOption(what: string): Option {
  return new Option("--allow-module-storage", what).env("WEFT_ALLOW_MODULE_STORAGE");
}

/**
 * Whether `--allow-module-storage` is on: the flag, or WEFT_ALLOW_MODULE_STORAGE
 * set to 1, true or yes (commander turns a switch on for any value, even 0).
 */
export function moduleStorageAllowed(command: Command): boolean {
  if (command.opts<{ allowModuleStorage?: boolean }>().allowModuleStorage !== true) return false;
  if (command.getOptionValueSource("allowModuleStorage") !== "env") return true;
  return /^(1|true|yes)$/i.test(process.env.WEFT_ALLOW_MODULE_STORAGE ?? "");
}

/**
 * What registered flows may use, for `startServer`: the storage and environment
 * registries (loaded here: the server part does not import them) and the switch.
 */
export async function deploymentRules(allowModuleStorage: boolean): Promise<DeploymentRules> {
  const [{ storageRegistry }, { environmentRegistry }] = await Promise.all([
    import("../../storage/registry.ts"),
    import("../../environments/registry.ts"),
  ]);
  return { storage: storageRegistry, environment: environmentRegistry, allowModuleStorage };
}

/** The database `--db` names, or the SQLite file under the weft home. */
export function resolveDb(db: string | undefined): string {
  return db !== undefined && db !== "" ? db : join(weftHome(), "weft.db");
}

/** The database for people: a PostgreSQL URL without its password, or the SQLite path. */
export function describeDb(db: string): string {
  if (!/^postgres(ql)?:\/\//i.test(db)) return `SQLite ${db}`;
  try {
    const url = new URL(db);
    url.password = "";
    return `PostgreSQL ${url.toString()}`;
  } catch {
    return "PostgreSQL";
  }
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`expected a port from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}

function bytes(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a number of bytes, got ${JSON.stringify(value)}`);
  return n;
}

/** `weft server start`: the API, the scheduler and run health in one process. */
export function registerServerCommand(program: Command, cli: CliContext): void {
  const server = program
    .command("server")
    .summary("run the weft server")
    .description(
      "The weft server: the system of record that agents, flow runs and the CLI talk to.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  weft server start\n  weft server start --port 0 --db ./weft.db\n",
    );
  const start = server
    .command("start")
    .summary("start the API server (SQLite by default, or PostgreSQL)")
    .description(
      "Serve the weft API on --host:--port, with the scheduler and run health, storing everything in --db (a SQLite file, created when missing, or a postgres:// URL). On 127.0.0.1 with no API token the server is open; on any other address it refuses to start until a token exists (weft token create). Prints the URL on stdout; SIGINT or SIGTERM stops it gracefully.",
    )
    .addOption(dbOption())
    .addOption(
      new Option("--host <address>", "the address to listen on")
        .env("WEFT_HOST")
        .default("127.0.0.1"),
    )
    .addOption(
      new Option("--port <port>", "the port (0: any free port)")
        .env("WEFT_PORT")
        .default(4200)
        .argParser(port),
    )
    .addOption(
      new Option("--body-limit <bytes>", "largest request body (default 16 MiB)")
        .env("WEFT_BODY_LIMIT")
        .argParser(bytes),
    )
    .addOption(
      allowModuleStorageOption(
        "accept flows in module storage (agents import a module by path or package name: only when everyone who may register flows may choose code for agents)",
      ),
    );
  addWorkerListFlags(addEdgeFlags(addLoopFlags(start)))
    .addHelpText(
      "after",
      "\nExamples:\n  weft server start\n  weft server start --db postgres://weft@db:5432/weft --host 0.0.0.0 --port 4200\n  weft server start --allowed-host weft.internal --allowed-origin https://ui.internal\n  weft server start --redis redis://redis:6379   # the dashboard lists the distributed workers\n  WEFT_DB=/var/lib/weft/weft.db weft server start --port 0\n",
    )
    .action(async (flags: ServerFlags, command: Command) => {
      const verbose = command.optsWithGlobals<{ verbose?: boolean }>().verbose === true;
      const db = resolveDb(flags.db);
      // The server (Hono, Kysely, the drivers) loads only for the commands that serve.
      const { startServer } = await import("../../server/server.ts");
      const running = await startServer({
        db,
        host: flags.host,
        port: flags.port,
        logger: stderrLogger(cli.stderr, verbose ? "debug" : "info"),
        ...loopOptions(flags),
        ...edgeOptions(flags),
        ...(flags.bodyLimit === undefined ? {} : { bodyLimitBytes: flags.bodyLimit }),
        deployment: await deploymentRules(moduleStorageAllowed(command)),
        ...(await workerListOptions(flags)),
      });
      cli.stderr.write(
        `weft server listening on ${running.url} (${describeDb(db)}; ${
          running.open
            ? "open: no API token exists yet, so loopback clients need none"
            : "every request needs an API token"
        })\n`,
      );
      cli.stdout.write(`${running.url}\n`);
      cli.stderr.write(`${uiLine(running)}\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) process.exit(130);
          stopping = true;
          cli.stderr.write(`${signal}: stopping the server (again to quit at once)\n`);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      await running.close();
      cli.stderr.write("weft server stopped\n");
    });
}
