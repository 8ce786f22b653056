import type { LogRecord } from "../../core/reporter.ts";
import type { TaskOutcome } from "../task-host.ts";

/** Messages from the executor to a worker thread. */
export type WorkerRequest =
  | {
      readonly type: "run";
      readonly id: number;
      readonly moduleUrl: string;
      readonly flowName: string;
      readonly slug: string;
      readonly mapIndex: number | undefined;
      readonly attempt: number;
      readonly flowRunId: string;
      readonly parameters: Readonly<Record<string, unknown>>;
      readonly args: readonly unknown[];
      /** The loop iteration, after the task threw Loop (absent: the first). */
      readonly loop?: { readonly count: number; readonly result: unknown };
      /** The task was approved for this run (`context().approved`). */
      readonly approved?: true;
    }
  | { readonly type: "abort"; readonly id: number; readonly reason: string };

/** Messages from a worker thread to the executor. */
export type WorkerReply =
  | { readonly type: "ready" }
  /** The task body starts now (its module is loaded): the hard timeout counts from here. */
  | { readonly type: "started"; readonly id: number }
  | { readonly type: "log"; readonly record: LogRecord }
  /** The attempt's outcome, as the task host made it (data, cloned across). */
  | { readonly type: "result"; readonly id: number; readonly outcome: TaskOutcome };
