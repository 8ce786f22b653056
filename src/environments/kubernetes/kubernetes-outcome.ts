// How a Job run ended, from what was seen of it: the final flow event on the Pod's log, our
// cancel, the Job's deadline, and the Pod's last status (docs/kubernetes-design.md, "Run health
// from the Job's status"). A crashed outcome (out of memory, evicted, deleted or killed from
// outside) is an interrupted run: the agent leaves it to run health, which may start it again.
import { constants } from "node:os";
import { State } from "../../core/states.ts";
import type { KubePod } from "../../kubernetes/kube-client.ts";
import { FLOW_CONTAINER } from "./kubernetes-job.ts";

/** How a Job run ended. */
export interface JobRunOutcome {
  readonly state: State;
  /** The Pod died without saying how the run ended (evicted, OOMKilled, deleted): run health's. */
  readonly crashed: boolean;
}

/** What was seen of a Job run. */
export interface JobRunSeen {
  readonly jobName: string;
  /** The Pod's last status, if it was ever made. */
  readonly pod: KubePod | undefined;
  /** The Pod was deleted (the watch said so). */
  readonly podGone: boolean;
  /** The final flow event the flow-run process wrote, if any. */
  readonly final: State | undefined;
  /** We cancelled the run (deleted the Job). */
  readonly cancelled: boolean;
  /** The Job's DeadlineExceeded message, when its deadline ended it. */
  readonly deadline: string | undefined;
  /** The last lines of output. */
  readonly tail: readonly string[];
  readonly started: number;
  readonly memoryMb?: number;
  readonly timeoutMs?: number;
}

/** The run's state, and whether it was interrupted. */
export function judgeJobRun(seen: JobRunSeen): JobRunOutcome {
  const { pod, started } = seen;
  // First: the Job controller stops the Pod with SIGTERM at the deadline, which `weft execute`
  // answers with a final Cancelled event.
  if (seen.deadline !== undefined) {
    // A Pod that never ran says why (a node selector no node matches, no room): that is the news.
    const unscheduled = pod?.status?.conditions?.find(
      (c) => c.type === "PodScheduled" && c.status === "False",
    );
    const why =
      unscheduled === undefined
        ? ""
        : `; its Pod was never scheduled: ${unscheduled.message ?? unscheduled.reason ?? "Unschedulable"}`;
    return {
      state: new State(
        "TimedOut",
        `hard timeout after ${seen.timeoutMs} ms: the Job's active deadline passed (${seen.deadline})${why}`,
        undefined,
        undefined,
        started,
      ),
      crashed: false,
    };
  }
  const podName = pod?.metadata?.name ?? seen.jobName;
  const reason = pod?.status?.reason;
  const disrupted = pod?.status?.conditions?.find(
    (c) => c.type === "DisruptionTarget" && c.status === "True",
  );
  // Cancelled, but not by us: the kubelet's SIGTERM (the Pod deleted or evicted from outside)
  // made `weft execute` cancel the run. No one asked for that: the run was interrupted.
  if (seen.final?.type === "Cancelled" && !seen.cancelled) {
    const how = reason === "Evicted" ? "evicted" : disrupted ? "disrupted" : "deleted";
    return failed(
      `the flow-run Pod ${podName} was ${how} while it ran (from outside weft): ${seen.final.message}`,
      how === "deleted" ? "PodDeleted" : "PodDisrupted",
      started,
      true,
    );
  }
  if (seen.final !== undefined) return { state: seen.final, crashed: false };
  if (seen.cancelled) {
    return {
      state: new State(
        "Cancelled",
        "the flow run was cancelled; its Job was deleted",
        undefined,
        undefined,
        started,
      ),
      crashed: false,
    };
  }
  const status = pod?.status?.containerStatuses?.find((c) => c.name === FLOW_CONTAINER);
  const terminated = status?.state?.terminated ?? status?.lastState?.terminated;
  if (terminated?.reason === "OOMKilled") {
    const limit = seen.memoryMb === undefined ? "" : ` (limit ${seen.memoryMb} MiB)`;
    return failed(
      `the flow-run Pod ${podName} ran out of memory${limit}: OOMKilled, exit ${terminated.exitCode}`,
      "OutOfMemory",
      started,
      true,
    );
  }
  if (reason === "Evicted" || reason === "NodeLost" || reason === "Preempting" || disrupted) {
    const why = pod?.status?.message ?? disrupted?.message ?? reason ?? "disrupted";
    return failed(
      `the flow-run Pod ${podName} was ${reason === "Evicted" ? "evicted" : `stopped (${reason ?? disrupted?.reason})`}: ${why}`,
      "PodDisrupted",
      started,
      true,
    );
  }
  if (terminated === undefined) {
    return failed(
      `the flow-run Pod ${podName} ${seen.podGone ? "was deleted" : "disappeared"} while it ran (from outside weft)`,
      "PodDeleted",
      started,
      true,
    );
  }
  const code = terminated.exitCode;
  if (code > 128 && code < 160) {
    return failed(
      `the flow-run Pod ${podName} was killed by ${signalName(code - 128)} (exit ${code})`,
      "PodExit",
      started,
      true,
    );
  }
  const last = seen.tail.slice(-5).join("\n");
  return failed(
    `the flow-run Pod ${podName} exited with code ${code} without reporting a final state${last === "" ? "" : `; its last output:\n${last}`}`,
    "PodExit",
    started,
    false,
  );
}

/** A Failed outcome whose error data has `type` and the message. */
export function failed(
  message: string,
  type: string,
  started: number,
  crashed: boolean,
): JobRunOutcome {
  return { state: new State("Failed", message, undefined, { type, message }, started), crashed };
}

function signalName(n: number): string {
  const found = Object.entries(constants.signals).find(([, v]) => v === n);
  return found?.[0] ?? `signal ${n}`;
}
