import type { Command } from "commander";
import type { ApiClient } from "../../client/api-client.ts";
import { retryTransient, sleep } from "../../client/backoff.ts";
import { WeftError } from "../../core/errors.ts";
import type { ParameterSpec } from "../../core/graph.ts";
import type {
  CreateFlowRunRequest,
  FlowRunDetail,
  FlowRunRecord,
  FlowSummary,
  TaskRunRecord,
} from "../../serialization/api-schemas.ts";
import { explainPending } from "../../serialization/pending-reason.ts";
import { type ApiFlags, addApiFlags, clientFromFlags, collectPages } from "../api-flags.ts";
import { type CliContext, positiveInt } from "../context.ts";
import { EXIT, exitCodeFor, table, writeRows } from "../output.ts";
import type { ParameterFlags } from "../parameter-flags.ts";
import { resolveRunId } from "../run-ids.ts";
import { between, remoteRunJson } from "../run-json.ts";

/** How often `--wait` asks for the run's state. */
const FOLLOW_INTERVAL_MS = 300;

function flowOf(run: FlowRunRecord): string {
  return `${run.flowName} v${run.flowVersion}`;
}

function stateText(run: { state: { type: string; message?: string | undefined } }): string {
  return run.state.message ? `${run.state.type}: ${run.state.message}` : run.state.type;
}

function brief(text: string | undefined, max = 100): string {
  const t = text ?? "";
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function taskKey(t: TaskRunRecord): string {
  return t.mapIndex === undefined ? t.slug : `${t.slug}[${t.mapIndex}]`;
}

/** How a duration reads (the engine's format, loaded with the action that prints it). */
type Elapsed = (ms: number) => string;

async function loadElapsed(): Promise<Elapsed> {
  return (await import("../../engine/reporters/console-reporter.ts")).elapsed;
}

/** `weft run`'s columns: a duration, and attempts only when a task was retried (never 0 for a parameter). */
function taskRunTable(taskRuns: readonly TaskRunRecord[], elapsed: Elapsed): string {
  return table(
    ["TASK", "STATE", "DURATION", "ATTEMPTS", "MESSAGE"],
    taskRuns.map((t) => {
      const ms = between(t.startTime ?? t.state.startedAt, t.endTime);
      return [
        taskKey(t),
        t.state.type,
        ms === undefined ? "" : elapsed(ms),
        t.attempts > 1 ? String(t.attempts) : "",
        brief(t.state.message),
      ];
    }),
  );
}

/** A run's duration: start to end, or to now while it runs. */
function runDuration(run: FlowRunRecord, elapsed: Elapsed, now = new Date().toISOString()): string {
  if (run.startTime === undefined) return "";
  const ms = between(run.startTime, run.endTime ?? now);
  return ms === undefined ? "" : `${elapsed(ms)}${run.endTime === undefined ? " so far" : ""}`;
}

/** `weft runs ls | inspect | logs | cancel`: flow runs on the server. */
export function registerRunsCommand(program: Command, cli: CliContext): void {
  const runs = program
    .command("runs")
    .summary("list, inspect, read the logs of, and cancel flow runs on the server")
    .description("Flow runs recorded by the weft server.")
    .addHelpText(
      "after",
      "\nExamples:\n  weft runs ls --state Running\n  weft runs inspect <id>\n",
    );

  addApiFlags(
    runs
      .command("ls")
      .summary("list flow runs, newest scheduled start first")
      .option("--flow <name>", "only runs of this flow")
      .option("--state <types>", "only runs in these states, comma-separated (e.g. Running,Failed)")
      .option("--agent <id>", "only runs claimed by this agent")
      .option("--limit <n>", "at most this many (default 50)", positiveInt),
    "read",
  )
    .addHelpText(
      "after",
      "\nExamples:\n  weft runs ls\n  weft runs ls --flow etl --state Failed,TimedOut --limit 20 --json\n",
    )
    .action(
      async (
        flags: ApiFlags & { flow?: string; state?: string; agent?: string; limit?: number },
      ) => {
        const api = await clientFromFlags(flags);
        const limit = flags.limit ?? 50;
        const items = await collectPages(limit, 500, (n, cursor) =>
          api.listFlowRuns({
            ...(flags.flow === undefined ? {} : { flowName: flags.flow }),
            ...(flags.state === undefined ? {} : { state: flags.state }),
            ...(flags.agent === undefined ? {} : { agentId: flags.agent }),
            limit: n,
            ...(cursor === undefined ? {} : { cursor }),
          }),
        );
        if (flags.json) {
          cli.stdout.write(`${JSON.stringify({ items })}\n`);
          return;
        }
        const elapsed = await loadElapsed();
        writeRows(
          cli,
          ["ID", "FLOW", "NAME", "STATE", "SCHEDULED", "ENDED", "DURATION"],
          items.map((r) => [
            r.id,
            flowOf(r),
            r.name,
            r.state.type,
            r.scheduledStart,
            r.endTime ?? "",
            runDuration(r, elapsed),
          ]),
          "no flow runs",
        );
      },
    );

  addApiFlags(
    runs
      .command("inspect")
      .summary("one run: its state, history, task runs, and why it waits")
      .argument("<id>", "the flow run's id, or its first 4+ hex digits (as in its name)"),
    "read",
  )
    .addHelpText(
      "after",
      "\nExamples:\n  weft runs inspect 1bda75f8\n  weft runs inspect 1bda75f8 --json | jq .tasks\n",
    )
    .action(async (id: string, flags: ApiFlags) => {
      const api = await clientFromFlags(flags);
      const run = await api.getFlowRun(await resolveRunId(api, id));
      const waiting = run.state.type === "Scheduled" ? await pendingReason(api, run) : undefined;
      if (flags.json) {
        const json = remoteRunJson(run);
        cli.stdout.write(
          `${JSON.stringify(waiting === undefined ? json : { ...json, waitingBecause: waiting })}\n`,
        );
        return;
      }
      cli.stdout.write(describeRun(run, waiting, await loadElapsed()));
    });

  addApiFlags(
    runs
      .command("logs")
      .summary("a run's logs, oldest first")
      .argument("<id>", "the flow run's id, or its first 4+ hex digits (as in its name)")
      .option("--limit <n>", "at most this many lines (default 10000)", positiveInt),
    "read",
  )
    .addHelpText(
      "after",
      "\nExamples:\n  weft runs logs 1bda75f8\n  weft runs logs 1bda75f8 --json | jq '.items[].message'\n",
    )
    .action(async (idOrPrefix: string, flags: ApiFlags & { limit?: number }) => {
      const api = await clientFromFlags(flags);
      const id = await resolveRunId(api, idOrPrefix);
      const limit = flags.limit ?? 10_000;
      const items = await collectPages(
        limit,
        5000,
        (n, cursor) => api.listLogs(id, { limit: n, ...(cursor === undefined ? {} : { cursor }) }),
        (page) => {
          if (flags.json) return;
          for (const l of page) {
            const where =
              l.taskSlug === undefined
                ? ""
                : ` ${l.taskSlug}${l.mapIndex === undefined ? "" : `[${l.mapIndex}]`}`;
            cli.stdout.write(`${new Date(l.time).toISOString()} ${l.level}${where} ${l.message}\n`);
          }
        },
      );
      if (flags.json) cli.stdout.write(`${JSON.stringify({ items })}\n`);
    });

  addApiFlags(
    runs
      .command("cancel")
      .summary("cancel a run (a running one stops at its next heartbeat)")
      .argument("<id>", "the flow run's id, or its first 4+ hex digits (as in its name)"),
    "agent",
  )
    .addHelpText("after", "\nExamples:\n  weft runs cancel 1bda75f8\n")
    .action(async (id: string, flags: ApiFlags) => {
      const api = await clientFromFlags(flags);
      const run = await api.cancelFlowRun(await resolveRunId(api, id));
      if (flags.json) cli.stdout.write(`${JSON.stringify(run)}\n`);
      else
        cli.stdout.write(
          run.state.type === "Cancelling"
            ? `run ${run.id}: Cancelling (its flow-run process stops at its next heartbeat)\n`
            : `run ${run.id}: ${run.state.type}\n`,
        );
    });
}

async function pendingReason(api: ApiClient, run: FlowRunRecord): Promise<string | undefined> {
  const [agents, holding] = await Promise.all([
    api.listAgents(),
    api.listFlowRuns({ state: "Submitted,Running", limit: 500 }),
  ]);
  const busy = new Map<string, number>();
  for (const r of holding.items)
    if (r.agentId !== undefined) busy.set(r.agentId, (busy.get(r.agentId) ?? 0) + 1);
  return explainPending(run, { agents, busy, now: new Date() });
}

function describeRun(run: FlowRunDetail, waiting: string | undefined, elapsed: Elapsed): string {
  const fields: [string, string | undefined][] = [
    ["run", `${run.id} (${run.name})`],
    ["flow", `${flowOf(run)} (${run.flowId})`],
    ["state", stateText(run)],
    ["waiting", waiting],
    ["scheduled", run.scheduledStart],
    ["started", run.startTime],
    ["ended", run.endTime],
    ["duration", runDuration(run, elapsed)],
    ["agent", run.agentId],
    ["heartbeat", run.heartbeatAt],
    ["parameters", JSON.stringify(run.parameters)],
    ["labels", run.labels.join(",") || undefined],
    ["version", String(run.version)],
    ["claims", run.claimCount ? String(run.claimCount) : undefined],
    ["rescheduled", run.rescheduleCount ? `${run.rescheduleCount} time(s)` : undefined],
    [
      "parent",
      run.parentRunId === undefined
        ? undefined
        : `${run.parentRunId}${run.parentTaskRun === undefined ? "" : ` (task ${run.parentTaskRun})`}`,
    ],
  ];
  const width = Math.max(...fields.map(([k]) => k.length));
  const lines = fields
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  let out = `${lines.join("\n")}\n`;
  out += `\nhistory\n${table(
    ["TIME", "STATE", "MESSAGE"],
    run.history.map((s) => [s.timestamp, s.type, brief(s.message)]),
  )}`;
  if (run.taskRuns.length > 0) {
    out += `\ntask runs\n${taskRunTable(run.taskRuns, elapsed)}`;
  }
  if (run.childRuns.length > 0) {
    out += `\nchild runs\n${table(
      ["ID", "FLOW", "STATE", "TASK", "MESSAGE"],
      run.childRuns.map((c) => [
        c.id,
        c.flowName,
        c.state.type,
        c.parentTaskRun ?? "",
        brief(c.state.message),
      ]),
    )}`;
  }
  return out;
}

/** What `weft run --remote` reads from its flags. */
export interface RemoteRunFlags extends ApiFlags, ParameterFlags {
  wait?: boolean;
  strict?: boolean;
}

/**
 * The active flow whose name's slug is `slug` ("example-mapping" for "Example:
 * Mapping"), when no flow has it as its name; AMBIGUOUS_FLOW when two have it.
 */
async function flowBySlug(api: ApiClient, slug: string): Promise<FlowSummary | undefined> {
  const { slugify } = await import("../../core/names.ts");
  const all = await collectPages(10_000, 500, (n, cursor) =>
    api.listFlows({ archived: "false", limit: n, ...(cursor === undefined ? {} : { cursor }) }),
  );
  const found = all.filter((f) => slugify(f.name) === slug);
  if (found.length > 1) {
    throw new WeftError(
      "AMBIGUOUS_FLOW",
      `${found.map((f) => JSON.stringify(f.name)).join(" and ")} share the slug "${slug}"`,
      { hint: "name the flow in full (quoted)" },
    );
  }
  return found[0];
}

/**
 * `weft run --remote <flow name>`: creates a run of the flow's active version
 * through the API; with --wait, follows it to its end and exits as `weft run`
 * does (0 Success, 1 failed, 130 cancelled).
 */
export async function runRemote(
  flowName: string,
  flags: RemoteRunFlags,
  cli: CliContext,
): Promise<void> {
  const api = await clientFromFlags(flags);
  const page = await api.listFlows({ name: flowName, archived: "false", limit: 1 });
  const summary = page.items[0] ?? (await flowBySlug(api, flowName));
  if (summary === undefined) {
    throw new WeftError(
      "FLOW_NOT_FOUND",
      `no flow named "${flowName}" is registered with ${api.url}`,
      {
        hint: "register it with `weft register <file>`; `weft flows ls` lists the registered flows",
      },
    );
  }
  const flow = await api.getFlow(summary.id);
  const specs = new Map(
    flow.flow.parameters.map((p) => [p.name, { name: p.name, type: p.type } as ParameterSpec]),
  );
  const [{ parameterValues }, { stateFromJSON }] = await Promise.all([
    import("../parameter-flags.ts"),
    import("../../serialization/flow-serializer.ts"),
  ]);
  const parameters = await parameterValues(flow.name, specs, flags, cli.stdin);
  const { run } = await api.createFlowRun({
    flowId: flow.id,
    // Values parsed from text or JSON: JSON by construction.
    parameters: parameters as CreateFlowRunRequest["parameters"],
  });
  cli.stderr.write(
    `created flow run ${run.id} (${flowOf(run)}), ${run.state.type} for ${run.scheduledStart}\n`,
  );
  if (!flags.wait) {
    cli.stdout.write(flags.json ? `${JSON.stringify(remoteRunJson(run))}\n` : `${run.id}\n`);
    return;
  }
  // The first Ctrl-C cancels the run on the server and goes on following it to its end (its
  // final state, exit 130 once Cancelled); a second one stops following at once.
  const controller = new AbortController();
  const stop = cli.onInterrupt(
    () => {
      api.cancelFlowRun(run.id).then(
        (cancelled) =>
          cli.stderr.write(
            cancelled.state.type === "Cancelling"
              ? `run ${run.id}: Cancelling (its flow-run process stops at its next heartbeat)\n`
              : `run ${run.id}: ${cancelled.state.type}\n`,
          ),
        (error: unknown) => {
          // It finished meanwhile: following shows how.
          if ((error as { code?: unknown }).code === "INVALID_TRANSITION") return;
          cli.stderr.write(
            `could not cancel run ${run.id}: ${(error as Error).message}; it goes on (cancel it with \`weft runs cancel ${run.id}\`)\n`,
          );
          controller.abort();
        },
      );
    },
    `interrupted: cancelling run ${run.id} on the server and following it to its end (Ctrl-C again to stop following)`,
    `stopped following run ${run.id}; the server goes on cancelling it (\`weft runs inspect ${run.id}\` shows its state)`,
  );
  try {
    let last = "";
    for (;;) {
      const detail = await retryTransient(() => api.getFlowRun(run.id), {
        deadlineMs: 60_000,
        signal: controller.signal,
      });
      const now = stateText(detail);
      if (now !== last) {
        cli.stderr.write(`${new Date().toISOString()} ${now}\n`);
        last = now;
      }
      const state = stateFromJSON(detail.state);
      if (state.isFinished()) {
        const { failedTaskRunsOf, strictState, summaryOf } = await import("../run-summary.ts");
        const failedTasks = failedTaskRunsOf(detail.taskRuns);
        cli.stdout.write(
          flags.json
            ? `${JSON.stringify(remoteRunJson(detail))}\n`
            : detail.taskRuns.length > 0
              ? taskRunTable(detail.taskRuns, await loadElapsed())
              : `run ${detail.id}: ${detail.state.type}\n`,
        );
        const summary = summaryOf(
          detail.flowName,
          detail.state,
          failedTasks,
          flags.strict === true,
        );
        if (!flags.json && summary !== undefined) cli.stderr.write(summary);
        // The server keeps the run's state; --strict changes only how this command exits.
        cli.exitCode = exitCodeFor(strictState(state, failedTasks, flags.strict === true));
        return;
      }
      await sleep(FOLLOW_INTERVAL_MS, controller.signal);
      if (controller.signal.aborted) {
        cli.stderr.write(
          `stopped following run ${run.id}; it goes on (cancel it with \`weft runs cancel ${run.id}\`)\n`,
        );
        cli.exitCode = EXIT.interrupted;
        return;
      }
    }
  } finally {
    stop();
  }
}
