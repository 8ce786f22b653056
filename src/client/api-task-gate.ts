// The task gate an agent gives the flow runs it executes: concurrency limits by
// tag, enforced by the server (server/db/limit-repository.ts). A task run that
// carries tags long-polls the server for its slots (one request per `waitMs`
// while it waits, no busy loop), and gives them back when it ends. Transient
// failures (server unreachable, database unavailable) are retried with backoff;
// a lost release is covered by the server, which frees a task run's slots with
// its final state, and a run's with its final state or run health's recovery.
// The gate keeps the list of limited tags for `refreshMs`, so a task whose tags
// have no limit (tags that only route tasks to queues) costs no request; a limit
// set meanwhile applies to task runs that start after the next refresh.
import type { Logger } from "../core/reporter.ts";
import type { GatedTaskRun, TaskGate } from "../core/task-gate.ts";
import type {
  AcquireSlotsRequest,
  AcquireSlotsResponse,
  ConcurrencyLimitRecord,
} from "../serialization/api-schemas.ts";
import { retryTransient } from "./backoff.ts";

/** The part of the API a task gate uses (the API client has it). */
export interface TaskGateApi {
  acquireTaskSlots(
    flowRunId: string,
    request: AcquireSlotsRequest,
    signal?: AbortSignal,
  ): Promise<AcquireSlotsResponse>;
  releaseTaskSlots(flowRunId: string, task: { slug: string; mapIndex?: number }): Promise<number>;
  listConcurrencyLimits(): Promise<ConcurrencyLimitRecord[]>;
}

/** How an API task gate asks. */
export interface ApiTaskGateOptions {
  readonly api: TaskGateApi;
  /** The flow run's claim (from an agent): a process of an older claim gets no slot. */
  readonly claim?: number;
  /** How long one acquisition request may wait on the server (long poll). @default 30000 */
  readonly waitMs?: number;
  /** How long the list of limited tags is kept before it is read again. @default 5000 */
  readonly refreshMs?: number;
  /** Where failed releases are reported. */
  readonly logger?: Logger;
}

/** The sentence a waiting task run's Pending state carries. */
export function waitingMessage(
  waitingFor: NonNullable<AcquireSlotsResponse["waitingFor"]>,
): string {
  return `waiting for a slot of concurrency limit "${waitingFor.tag}" (${waitingFor.limit} slot(s), all taken)`;
}

/**
 * A {@link TaskGate} that takes slots from the server's concurrency limits.
 * @example
 * await flow.run({ flowRunId: run.id, taskGate: createApiTaskGate({ api, claim: run.claimCount }) })
 */
export function createApiTaskGate(options: ApiTaskGateOptions): TaskGate {
  const { api, logger } = options;
  const waitMs = options.waitMs ?? 30_000;
  const refreshMs = options.refreshMs ?? 5000;
  /** The limited tags as last read, and when (a read in flight is shared). */
  let known: { tags: ReadonlySet<string>; at: number } | undefined;
  let reading: Promise<ReadonlySet<string> | undefined> | undefined;
  /** Task runs that hold slots (by flow run, slug and index), so that others release nothing. */
  const holding = new Set<string>();
  const keyOf = (t: GatedTaskRun) => `${t.flowRunId}\u0000${t.slug}\u0000${t.mapIndex ?? -1}`;

  /** The limited tags; undefined when they cannot be read (then every tag is asked about). */
  function limitedTags(): Promise<ReadonlySet<string> | undefined> {
    if (known !== undefined && Date.now() - known.at < refreshMs)
      return Promise.resolve(known.tags);
    reading ??= api
      .listConcurrencyLimits()
      .then(
        (limits) => {
          known = { tags: new Set(limits.map((l) => l.tag)), at: Date.now() };
          return known.tags;
        },
        () => undefined,
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  }

  const gate: TaskGate = {
    async enter(task: GatedTaskRun, signal: AbortSignal, waiting: (message: string) => void) {
      const limited = await limitedTags();
      const tags = limited === undefined ? task.tags : task.tags.filter((t) => limited.has(t));
      if (tags.length === 0) return;
      const request: AcquireSlotsRequest = {
        slug: task.slug,
        ...(task.mapIndex === undefined ? {} : { mapIndex: task.mapIndex }),
        tags: [...tags],
        ...(options.claim === undefined ? {} : { claim: options.claim }),
        waitMs: 0,
      };
      let said: string | undefined;
      for (let first = true; ; first = false) {
        signal.throwIfAborted();
        // The first ask does not wait: a free slot answers at once, and a full one is
        // reported as Pending before the long poll.
        const answer = await retryTransient(
          () =>
            api.acquireTaskSlots(
              task.flowRunId,
              { ...request, waitMs: first ? 0 : waitMs },
              signal,
            ),
          { signal, maxMs: 5000 },
        );
        if (answer.acquired) {
          holding.add(keyOf(task));
          // Cancelled meanwhile: the task will not run, so what it took goes back now.
          if (signal.aborted) {
            await gate.exit(task);
            signal.throwIfAborted();
          }
          return;
        }
        signal.throwIfAborted();
        if (answer.waitingFor !== undefined) {
          const message = waitingMessage(answer.waitingFor);
          if (message !== said) waiting(message);
          said = message;
        }
      }
    },
    async exit(task: GatedTaskRun) {
      if (!holding.delete(keyOf(task))) return;
      try {
        await retryTransient(
          () =>
            api.releaseTaskSlots(task.flowRunId, {
              slug: task.slug,
              ...(task.mapIndex === undefined ? {} : { mapIndex: task.mapIndex }),
            }),
          { deadlineMs: 30_000 },
        );
      } catch (error) {
        const index = task.mapIndex === undefined ? "" : `[${task.mapIndex}]`;
        logger?.warn(
          `task run ${task.slug}${index} of flow run ${task.flowRunId}: could not give back its concurrency slots (${(error as Error).message}); its final state frees them`,
        );
      }
    },
  };
  return gate;
}
