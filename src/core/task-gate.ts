// The engine's side of concurrency limits by tag: a gate every task run carrying
// tags passes through. The engine knows no limits itself; whoever runs the flow
// for a server (an agent) supplies a gate that asks the server for slots
// (client/api-task-gate.ts). A run without a gate (plain `flow.run()`, `weft run`)
// ignores limits.

/** A task run asking for, or giving back, its concurrency slots. */
export interface GatedTaskRun {
  readonly flowRunId: string;
  readonly slug: string;
  /** The child's index for a mapped child, else undefined. */
  readonly mapIndex: number | undefined;
  /** The task's tags (never empty: a task without tags does not pass the gate). */
  readonly tags: readonly string[];
}

/**
 * Concurrency limits as the engine sees them. Before a task run that carries
 * tags starts, the engine awaits `enter`; when it has ended (whatever its final
 * state, retries included), it awaits `exit` before reporting that state. Tasks
 * without tags never touch the gate.
 */
export interface TaskGate {
  /**
   * Resolves when the task run may start (it holds a slot of every limited tag it
   * carries). Calls `waiting` with a sentence naming the limit while it has to
   * wait (the engine reports it as the task's Pending state). Rejects when
   * `signal` aborts (the run was cancelled) or the slots cannot be had (the
   * task run then fails with that error).
   */
  enter(task: GatedTaskRun, signal: AbortSignal, waiting: (message: string) => void): Promise<void>;
  /** Gives back the task run's slots. Should not reject: a failure is the gate's to report. */
  exit(task: GatedTaskRun): Promise<void>;
}
