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
  registerAgentInstall(agent, cli);
}

interface InstallFlags {
  namespace: string;
  image: string;
  api: string;
  tokenSecret?: string;
  labels?: string;
  name: string;
  hostNetwork?: boolean;
  json?: boolean;
}

/** `weft agent install kubernetes`: prints the manifests of an agent inside a cluster. */
function registerAgentInstall(agent: Command, cli: CliContext): void {
  agent
    .command("install")
    .summary("print the manifests that run an agent on a platform")
    .description(
      "Prints what an operator applies to run an agent on the platform named (only `kubernetes`): a ServiceAccount, a Role and RoleBinding with the least privileges the agent needs in one namespace (Jobs: create, get, list, watch, delete; Pods: get, list, watch; pods/log: get; its namespace: get), and a Deployment of one replica running `weft agent start --kubernetes`. Pipe it to `kubectl apply -f -`.",
    )
    .argument("<platform>", "kubernetes")
    .option("--namespace <name>", "the namespace of the agent and its Jobs", "default")
    .requiredOption(
      "--image <ref>",
      "weft's runtime image, pushed where the cluster pulls (the agent's and its runs' image)",
    )
    .option(
      "--api <url>",
      "the weft server's URL as the agent's Pod reaches it",
      "http://weft:4200",
    )
    .option("--token-secret <name/key>", "the Secret key holding the agent's API token")
    .option("--labels <a,b>", "labels the agent carries (comma-separated)")
    .option(
      "--name <name>",
      "the agent's name (its objects' and its Jobs' owner label)",
      "weft-agent",
    )
    .option("--host-network", "run the agent on the node's network (clusters without Service DNS)")
    .option("--json", "print one JSON List instead of YAML documents")
    .addHelpText(
      "after",
      "\nExamples:\n  weft agent install kubernetes --namespace weft --image registry.example/weftflow-runtime:0.1.0 --api http://weft.weft:4200 --token-secret weft-agent/token | kubectl apply -f -\n",
    )
    .action(async (platform: string, flags: InstallFlags) => {
      const { WeftError } = await import("../../core/errors.ts");
      if (platform !== "kubernetes") {
        throw new WeftError("USAGE", `cannot install an agent on ${JSON.stringify(platform)}`, {
          hint: "the platforms are: kubernetes",
        });
      }
      const { agentManifests, toYamlDocuments } = await import(
        "../../kubernetes/agent-manifests.ts"
      );
      const manifests = agentManifests({
        namespace: flags.namespace,
        image: flags.image,
        api: flags.api,
        labels: parseLabels(flags.labels),
        name: flags.name,
        hostNetwork: flags.hostNetwork === true,
        ...(flags.tokenSecret === undefined ? {} : { tokenSecret: flags.tokenSecret }),
      });
      cli.stdout.write(
        flags.json === true
          ? `${JSON.stringify({ apiVersion: "v1", kind: "List", items: manifests }, null, 2)}\n`
          : toYamlDocuments(manifests),
      );
      cli.exitCode = EXIT.ok;
    });
}
