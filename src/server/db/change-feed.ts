// The change feed: what this process's writes changed, as records, for whoever
// listens in this process (the API's server-sent event streams, api/live-streams.ts).
//
// Decisions:
// - The repositories publish AFTER their transaction committed, with the records the
//   write already holds (the row it returned, the task runs it upserted, the log ids
//   the insert returned): a listener never queries the database per change, and it
//   never sees a change that was rolled back.
// - In process only: a stream sees the writes made through this replica. Writes of
//   other replicas on the same PostgreSQL are not seen (docs/ui.md says so; the
//   streams' `ready` event on reconnect makes clients refetch).
// - Publishing costs nothing when nobody listens: `wantsRun` / `wantsTasks` let a
//   repository skip building records (and the task-run batch its `returning` ids).
// - Listeners are called synchronously and must not throw or block: the stream's
//   listener only queues (bounded) and wakes its reader.
import type {
  AgentRecord,
  FlowRunRecord,
  LogEntry,
  TaskRunRecord,
} from "../../serialization/api-schemas.ts";

/** One committed change. */
export type Change =
  | { readonly kind: "run"; readonly run: FlowRunRecord }
  | {
      readonly kind: "task-runs";
      readonly flowRunId: string;
      readonly taskRuns: readonly TaskRunRecord[];
    }
  | { readonly kind: "logs"; readonly flowRunId: string; readonly logs: readonly LogEntry[] }
  | { readonly kind: "agent"; readonly agent: AgentRecord };

/** Called with each change it subscribed to, synchronously, after the commit. */
export type ChangeListener = (change: Change) => void;

/**
 * The in-process hub of committed changes. A listener subscribes to every run and
 * agent change (`subscribe(listener)`), or to one run's changes: its run record, its
 * task runs and its logs (`subscribe(listener, runId)`).
 */
export class ChangeFeed {
  private readonly everything = new Set<ChangeListener>();
  private readonly byRun = new Map<string, Set<ChangeListener>>();

  /** Subscribes `listener`; returns the unsubscribe function. */
  subscribe(listener: ChangeListener, runId?: string): () => void {
    if (runId === undefined) {
      this.everything.add(listener);
      return () => {
        this.everything.delete(listener);
      };
    }
    let set = this.byRun.get(runId);
    if (set === undefined) {
      set = new Set();
      this.byRun.set(runId, set);
    }
    set.add(listener);
    return () => {
      const current = this.byRun.get(runId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.byRun.delete(runId);
    };
  }

  /** True when a change of run `runId` has a listener (any run: any listener of runs). */
  wantsRun(runId?: string): boolean {
    if (this.everything.size > 0) return true;
    return runId === undefined ? this.byRun.size > 0 : this.byRun.has(runId);
  }

  /** True when the task runs or logs of `runId` have a listener. */
  wantsTasks(runId: string): boolean {
    return this.byRun.has(runId);
  }

  /** True when agent changes have a listener. */
  wantsAgents(): boolean {
    return this.everything.size > 0;
  }

  /** Hands a committed change to its listeners (a listener's throw is its own). */
  publish(change: Change): void {
    switch (change.kind) {
      case "run":
        this.call(this.everything, change);
        this.call(this.byRun.get(change.run.id), change);
        return;
      case "agent":
        this.call(this.everything, change);
        return;
      default:
        this.call(this.byRun.get(change.flowRunId), change);
    }
  }

  /** Drops every listener (the database closed). */
  clear(): void {
    this.everything.clear();
    this.byRun.clear();
  }

  private call(listeners: Set<ChangeListener> | undefined, change: Change): void {
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener(change);
      } catch {
        // The write has committed; a listener's failure is its own.
      }
    }
  }
}
