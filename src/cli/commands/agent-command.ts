import { hostname } from "node:os";
import type { Command } from "commander";
import { type AgentHostFlags, addAgentHostFlags, agentHostOf } from "../agent-host-flags.ts";
import { addApiFlags, clientFromFlags } from "../api-flags.ts";
import { type CliContext, positiveInt } from "../context.ts";
import { EXIT } from "../output.ts";
import { stderrLogger } from "../stderr-logger.ts";
import { allowModuleStorageOption, moduleStorageAllowed } from "./server-command.ts";

interface AgentFlags extends AgentHostFlags {
  api: string;
  token?: string;
  labels?: string;
  name?: string;
  concurrency: number;
  hostnameLabel: boolean;
  heartbeatInterval: number;
  stopGrace: number;
}

/** Splits `a,b` into labels, dropping blanks. */
export function parseLabels(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** `weft agent start`: claims scheduled runs whose labels it carries and deploys them. */
export function registerAgentCommand(program: Command, cli: CliContext): void {
  const agent = program
    .command("agent")
    .summary("run scheduled flow runs on this machine")
    .description("Agents claim due flow runs from the server and execute them.");
  const start = agent
    .command("start")
    .summary("claim and execute runs until SIGTERM")
    .description(
      "Register with the server, then claim due runs whose labels are all on this agent and execute each through its flow's environment and storage, sending heartbeats and task states. On SIGTERM or SIGINT it stops claiming, waits for its runs (bounded by --stop-grace) and exits 0; runs still going are rescheduled by the server. The machine's hostname is a label by default, so flows in local storage on this machine come here.",
    );
  addAgentHostFlags(addApiFlags(start, "agent", { json: false }))
    .option("--labels <a,b>", "labels this agent carries (comma-separated)")
    .option("--name <name>", "the agent's name (default agent-<hostname>)")
    .option("--concurrency <n>", "runs executed at once", positiveInt, 4)
    .option("--no-hostname-label", "do not add this machine's hostname to the labels")
    .option(
      "--heartbeat-interval <ms>",
      "heartbeat period of the agent and its runs",
      positiveInt,
      5000,
    )
    .option(
      "--stop-grace <ms>",
      "on SIGTERM, how long runs may take to finish",
      positiveInt,
      30_000,
    )
    .addOption(
      allowModuleStorageOption(
        "run flows in module storage (imports a module from this machine by path or package name, as the flow's registration says)",
      ),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  weft agent start\n  weft agent start --api http://weft.internal:4200 --token $WEFT_API_TOKEN --labels gpu --concurrency 2\n",
    )
    .action(async (flags: AgentFlags, command: Command) => {
      const labels = parseLabels(flags.labels);
      if (flags.hostnameLabel && !labels.includes(hostname())) labels.push(hostname());
      const logger = stderrLogger(cli.stderr);
      const { apiVariables, startAgent } = await import("../../agent/agent.ts");
      const running = startAgent({
        api: await clientFromFlags(flags),
        runEnv: apiVariables(flags.api, flags.token),
        labels,
        concurrency: flags.concurrency,
        heartbeatIntervalMs: flags.heartbeatInterval,
        stopGraceMs: flags.stopGrace,
        allowModuleStorage: moduleStorageAllowed(command),
        host: agentHostOf(flags),
        logger,
        ...(flags.name === undefined ? {} : { name: flags.name }),
      });
      logger.info(`agent starting against ${flags.api} (pid ${process.pid})`);
      await new Promise<void>((resolve) => {
        const stop = cli.onInterrupt(() => {
          void running.stop().then(() => {
            stop();
            logger.info("agent stopped");
            resolve();
          });
        }, "stopping: no new runs are claimed; waiting for the running ones (again to quit now)");
      });
      cli.exitCode = EXIT.ok;
    });
}
