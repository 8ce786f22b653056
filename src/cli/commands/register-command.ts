import type { Command } from "commander";
import { isWeftError, WeftError } from "../../core/errors.ts";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import type { Flow } from "../../core/flow.ts";
import { loadFlowFile, pickFlow } from "../../engine/flow-loader.ts";
import type { FlowEnvironment, FlowStorage } from "../../serialization/deployment.ts";
import { addApiFlags, clientFromFlags } from "../api-flags.ts";
import type { CliContext } from "../context.ts";
import { addExecutorFlags } from "../executor-flags.ts";
import { table } from "../output.ts";
import { addStorageFlags, type StorageFlags, storageFromFlags } from "../storage-flags.ts";
import { parseLabels } from "./agent-command.ts";

interface RegisterFlags extends StorageFlags {
  flow?: string;
  environment?: string;
  executor?: string;
  labels?: string;
  schedule?: string;
  timezone: string;
  versionGroup?: string;
  api: string;
  token?: string;
  json?: boolean;
}

/**
 * `weft register <file>`: stores the file's flows, serializes each with its
 * storage, environment and location (PIN-7), and registers it with the server.
 */
export function registerRegisterCommand(program: Command, cli: CliContext): void {
  const command = program
    .command("register")
    .summary("store a file's flows and register them with the server")
    .description(
      "Build each flow of a file (or --flow) into its storage, then register it with the server together with its storage, environment, location, labels and schedule, so that an agent anywhere can run it. A flow may set storage, environment, schedule and labels in code; flags override them. Defaults: local storage and the local environment. Registering unchanged code and settings again answers the same version.",
    )
    .argument("<file>", "a .ts or .js file that exports flows")
    .option("-f, --flow <name>", "only this flow")
    .option(
      "-e, --environment <kind>",
      "local | subprocess | distributed | container: how runs execute",
    )
    .option("--labels <a,b>", "labels an agent must carry (replace the flow's own)")
    .option("--schedule <cron>", 'a cron schedule, e.g. "*/5 * * * *" (replaces the flow\'s own)')
    .option("--timezone <tz>", "the time zone of --schedule", "UTC")
    .option("--version-group <name>", "versions of one flow share a group (default its name)");
  addApiFlags(command, "agent");
  addExecutorFlags(command, { help: (kinds) => `local environment: ${kinds}`, options: false });
  addStorageFlags(command, false)
    .addHelpText(
      "after",
      '\nExamples:\n  weft register examples/etl.ts\n  weft register examples/etl.ts --environment subprocess --labels etl --schedule "0 2 * * *" --timezone Europe/Paris\n  weft register flows.ts --flow nightly --storage s3 --bucket flows --endpoint http://127.0.0.1:7480 --path-style\n',
    )
    .action(async (file: string, flags: RegisterFlags) => {
      const [
        { cron },
        { createEnvironment },
        { checkPairing },
        { deploymentOf, serializeFlowGraph },
        { createLocalStorage },
      ] = await Promise.all([
        import("../../core/schedules.ts"),
        import("../../environments/registry.ts"),
        import("../../serialization/deployment.ts"),
        import("../../serialization/flow-serializer.ts"),
        import("../../storage/local-storage.ts"),
      ]);
      const all = await loadFlowFile(file);
      const flows = flags.flow === undefined ? all : [pickFlow(all, flags.flow, file)];
      const api = await clientFromFlags(flags);
      const schedule =
        flags.schedule === undefined
          ? undefined
          : cron(flags.schedule, { timezone: flags.timezone });
      const labels = flags.labels === undefined ? undefined : parseLabels(flags.labels);
      const flagStorage = await storageFromFlags(flags);
      const built = new Map<FlowStorage, Flow<unknown>[]>();
      let sharedLocal: FlowStorage | undefined;
      const defaultStorage = (): FlowStorage => {
        sharedLocal ??= createLocalStorage();
        return sharedLocal;
      };
      const plans = flows.map((flow) => {
        const own = deploymentOf(flow);
        const storage: FlowStorage = flagStorage ?? own.storage ?? defaultStorage();
        const environment: FlowEnvironment =
          flags.environment === undefined && flags.executor === undefined
            ? (own.environment ?? createEnvironment("local"))
            : createEnvironment(flags.environment ?? "local", {
                ...(flags.executor === undefined
                  ? {}
                  : { executor: flags.executor as ExecutorSpec }),
              });
        // The pairing first: its message names the environment as well as the storage.
        try {
          checkPairing(environment, storage);
        } catch (error) {
          if (!isWeftError(error)) throw error;
          throw new WeftError(error.code, `flow ${flow.name}: ${error.message}`, {
            cause: error,
            ...(error.hint === undefined ? {} : { hint: error.hint }),
          });
        }
        if (!storage.shareable) {
          throw new WeftError(
            "STORAGE_NOT_SHAREABLE",
            `flow ${flow.name}: ${storage.type} storage keeps code in this process only, so no agent could load it`,
            { hint: "register with --storage local (this machine), s3, git, http or module" },
          );
        }
        const location = storage.addFlow(flow);
        built.set(storage, [...(built.get(storage) ?? []), flow]);
        return { flow, storage, environment, location };
      });
      for (const storage of built.keys()) await storage.build();
      const results = [];
      for (const { flow, storage, environment, location } of plans) {
        const serialized = serializeFlowGraph(flow, {
          storage,
          environment,
          location,
          ...(schedule === undefined ? {} : { schedule }),
          ...(labels === undefined ? {} : { labels }),
        });
        const answer = await api.registerFlow(serialized, flags.versionGroup);
        results.push({ ...answer.flow, created: answer.created });
      }
      if (flags.json) {
        cli.stdout.write(`${JSON.stringify({ flows: results })}\n`);
        return;
      }
      cli.stdout.write(
        table(
          ["FLOW", "VERSION", "", "ID", "LABELS", "SCHEDULE"],
          results.map((r) => [
            r.name,
            String(r.version),
            r.created ? "new" : "unchanged",
            r.id,
            r.labels.join(","),
            r.schedule?.type === "cron"
              ? `${r.schedule.expression} ${r.schedule.timezone}`
              : (r.schedule?.type ?? ""),
          ]),
        ),
      );
    });
}
