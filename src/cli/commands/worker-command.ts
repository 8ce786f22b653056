import { type Command, Option } from "commander";
import { type CliContext, positiveInt } from "../context.ts";
import { CliError, EXIT, writeRows } from "../output.ts";
import { stderrLogger } from "../stderr-logger.ts";

interface WorkerFlags {
  redis?: string;
  queues: string;
  concurrency: number;
  name?: string;
  prefix: string;
  lockDuration: number;
  shutdownGrace: number;
}

/** `weft worker start`: runs task bodies for distributed flow runs until SIGTERM or SIGINT. */
export function registerWorkerCommand(program: Command, cli: CliContext): void {
  const worker = program
    .command("worker")
    .summary("run task bodies of distributed flow runs (Redis, BullMQ)")
    .description("Workers run the tasks of flow runs that use the distributed environment.");
  worker
    .command("start")
    .summary("serve queues until SIGTERM")
    .description(
      "Serve tasks from Redis queues until SIGTERM or SIGINT, then finish the tasks in hand (bounded by --shutdown-grace) and exit 0. Each job is logged to stderr with its flow run and task slugs. While it runs, the worker keeps a liveness record in Redis so that flow runs can tell whether any live worker serves their queues.",
    )
    .addOption(
      new Option("--redis <url>", "the Redis URL (as the flow runs use)").env("WEFT_REDIS_URL"),
    )
    .option("--queues <a,b>", "comma-separated queues to serve", "default")
    .option("--concurrency <n>", "jobs run at once per queue", positiveInt, 8)
    .option("--name <name>", "this worker's name in logs and liveness (default <host>-<pid>)")
    .option("--prefix <prefix>", "the BullMQ key prefix (as the distributed environment's)", "weft")
    .option(
      "--lock-duration <ms>",
      "a job's lock; a worker that dies is noticed after about this long and its job re-run elsewhere",
      positiveInt,
      30_000,
    )
    .option(
      "--shutdown-grace <ms>",
      "on SIGTERM, how long running tasks may take before they are aborted",
      positiveInt,
      30_000,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  weft worker start --redis redis://127.0.0.1:6379\n  WEFT_REDIS_URL=redis://redis:6379 weft worker start --queues default,gpu --concurrency 4 --name gpu-1\n",
    )
    .action(async (flags: WorkerFlags) => {
      if (flags.redis === undefined || flags.redis === "") {
        throw new CliError(
          "weft worker start needs a Redis URL",
          EXIT.usage,
          "USAGE",
          "pass --redis redis://host:6379 or set WEFT_REDIS_URL",
        );
      }
      const queues = flags.queues
        .split(",")
        .map((q) => q.trim())
        .filter((q) => q !== "");
      const logger = stderrLogger(cli.stderr);
      const [{ startDistributedWorker }, { redisAddress }] = await Promise.all([
        import("../../environments/distributed/distributed-worker-start.ts"),
        import("../../engine/distributed/distributed-protocol.ts"),
      ]);
      const running = await startDistributedWorker({
        redisUrl: flags.redis,
        queues,
        concurrency: flags.concurrency,
        prefix: flags.prefix,
        lockDurationMs: flags.lockDuration,
        shutdownGraceMs: flags.shutdownGrace,
        logger,
        ...(flags.name === undefined ? {} : { name: flags.name }),
      });
      logger.info(
        `worker ${running.name} serving ${queues.join(", ")} on ${redisAddress(flags.redis)} (concurrency ${flags.concurrency}, pid ${process.pid})`,
      );
      await new Promise<void>((resolve) => {
        const stop = cli.onInterrupt(() => {
          logger.info(`worker ${running.name} stopping: finishing the tasks in hand`);
          void running.close().then(() => {
            stop();
            logger.info(`worker ${running.name} stopped`);
            resolve();
          });
        });
      });
      cli.exitCode = EXIT.ok;
    });

  worker
    .command("list")
    .alias("ls")
    .summary("list the live workers")
    .description(
      "List the workers alive on a Redis (their liveness records under --prefix): name, queues, jobs running at their last heartbeat out of their concurrency, host and pid, when they started and last beat.",
    )
    .addOption(new Option("--redis <url>", "the workers' Redis URL").env("WEFT_REDIS_URL"))
    .option("--prefix <prefix>", "the BullMQ key prefix (as the workers' --prefix)", "weft")
    .option("--json", "print {items: [...]} as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  weft worker list --redis redis://127.0.0.1:6379\n  WEFT_REDIS_URL=redis://redis:6379 weft worker list --prefix staging --json\n",
    )
    .action(async (flags: { redis?: string; prefix: string; json?: boolean }) => {
      if (flags.redis === undefined || flags.redis === "") {
        throw new CliError(
          "weft worker list needs a Redis URL",
          EXIT.usage,
          "USAGE",
          "pass --redis redis://host:6379 or set WEFT_REDIS_URL",
        );
      }
      const { redisWorkerDirectory } = await import("../worker-directory.ts");
      const directory = await redisWorkerDirectory(flags.redis, flags.prefix, "weft worker list");
      try {
        const items = await directory.list();
        if (flags.json === true) {
          cli.stdout.write(`${JSON.stringify({ items })}\n`);
          return;
        }
        writeRows(
          cli,
          ["NAME", "QUEUES", "ACTIVE", "HOST", "PID", "STARTED", "LAST HEARTBEAT"],
          items.map((w) => [
            w.name,
            w.queues.join(","),
            `${w.active ?? "?"}/${w.concurrency * w.queues.length}`,
            w.host,
            String(w.pid),
            w.startedAt,
            w.lastHeartbeat ?? "-",
          ]),
          `no live worker on ${directory.source} (start one with weft worker start)`,
        );
      } finally {
        await directory.close();
      }
    });
}
