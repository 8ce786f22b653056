import { hostname } from "node:os";
import { type Command, InvalidArgumentError, Option } from "commander";
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
  kubernetes?: boolean;
  namespace?: string;
  image?: string;
  kubeconfig?: string;
  context?: string;
  cpus?: number;
  memoryMb?: number;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive number, got ${JSON.stringify(value)}`);
  return n;
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
    .option(
      "--kubernetes",
      "run every claimed run as a Kubernetes Job, whatever its flow's environment (see docs/kubernetes.md)",
    )
    .addOption(
      new Option("--namespace <name>", "with --kubernetes: the namespace of the Jobs").env(
        "WEFT_KUBERNETES_NAMESPACE",
      ),
    )
    .addOption(
      new Option(
        "--image <ref>",
        "with --kubernetes: weft's runtime image, pushed where the cluster pulls, for flows whose environment names no image",
      ).env("WEFT_KUBERNETES_IMAGE"),
    )
    .addOption(
      new Option(
        "--kubeconfig <file>",
        "with --kubernetes, outside the cluster: the kubeconfig (default: in-cluster, else ~/.kube/config)",
      ).env("KUBECONFIG"),
    )
    .option("--context <name>", "with --kubernetes: the kubeconfig's context")
    .option(
      "--cpus <n>",
      "with --kubernetes: the CPU limit of runs whose environment sets none",
      positiveNumber,
    )
    .option(
      "--memory-mb <n>",
      "with --kubernetes: the memory limit (MiB) of runs whose environment sets none",
      positiveInt,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  weft agent start\n  weft agent start --kubernetes --namespace weft --image registry.internal:5000/weftflow-runtime:0.1.0 --labels k8s\n  weft agent start --api http://weft.internal:4200 --token $WEFT_API_TOKEN --labels gpu --concurrency 2\n",
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
        logger,
        ...(flags.name === undefined ? {} : { name: flags.name }),
        ...(await hostAndDeploy(flags)),
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

async function hostAndDeploy(flags: AgentFlags) {
  const host = agentHostOf(flags);
  if (flags.kubernetes !== true) return { host };
  const { deployAs, kubernetes } = await kubernetesDeploy(flags);
  return { host: { ...host, kubernetes }, deployAs };
}

/**
 * With --kubernetes: every run becomes a Job (its environment rewritten by
 * `asKubernetesEnvironment`), on the cluster, namespace and image the flags name where the
 * flow's environment names none.
 */
async function kubernetesDeploy(flags: AgentFlags) {
  const { asKubernetesEnvironment } = await import("../../agent/kubernetes-deploy.ts");
  const limits = {
    ...(flags.cpus === undefined ? {} : { cpus: flags.cpus }),
    ...(flags.memoryMb === undefined ? {} : { memoryMb: flags.memoryMb }),
  };
  return {
    deployAs: (environment: Parameters<typeof asKubernetesEnvironment>[0]) =>
      asKubernetesEnvironment(environment, limits),
    kubernetes: {
      kubeconfig: flags.kubeconfig,
      context: flags.context,
      // Its credentials (in-cluster, else the kubeconfig's) beat any a flow's JSON names.
      inCluster: true,
      namespace: flags.namespace ?? "default",
      image: flags.image,
    },
  };
}

/** `weft agent install kubernetes`: prints the manifests of an agent inside a cluster. */
function registerAgentInstall(agent: Command, cli: CliContext): void {
  agent
    .command("install")
    .summary("print the manifests that run an agent on a platform")
    .description(
      "Prints what an operator applies to run an agent on the platform named (only `kubernetes`): a ServiceAccount, a Role and RoleBinding with the least privileges the agent needs in one namespace (Jobs: create, get, list, watch, delete; Pods: get, list, watch, delete; pods/log: get; its namespace: get), and a Deployment of one replica running `weft agent start --kubernetes`. Pipe it to `kubectl apply -f -`.",
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
