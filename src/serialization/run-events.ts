import { WeftError } from "../core/errors.ts";
import type { LogRecord, Reporter } from "../core/reporter.ts";
import { stateFromJSON, stateToJSON } from "./flow-serializer.ts";
import { type RunEvent, runEventSchema } from "./schemas.ts";

/**
 * A reporter that writes every event as one JSON line: what `weft execute`
 * sends to the process that started it.
 */
export function createEventWriter(write: (line: string) => void): Reporter {
  const send = (event: RunEvent) => write(`${JSON.stringify(event)}\n`);
  return {
    flowState: (run, state) =>
      send({ event: "flow", state: withoutResult(stateToJSON(state)), taskCount: run.taskCount }),
    taskState: (_run, task, mapIndex, state) =>
      send({
        event: "task",
        slug: task.slug,
        name: task.name,
        mapped: task.mapped,
        ...(mapIndex === undefined ? {} : { mapIndex }),
        state: withoutResult(stateToJSON(state)),
      }),
    log: (record) => send({ event: "log", record: record as RunEvent & LogRecord }),
  };
}

// Results stay in the flow-run process (they may be large); states travel without them.
function withoutResult<T extends { result?: unknown }>(state: T): T {
  if (state.result === undefined) return state;
  const { result: _dropped, ...rest } = state;
  return rest as T;
}

/** Parses one event line (strictly), naming what is wrong. */
export function parseEventLine(line: string): RunEvent {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    throw new WeftError("INVALID_SERIALIZED", `run event is not JSON: ${(error as Error).message}`);
  }
  const parsed = runEventSchema.safeParse(json);
  if (!parsed.success)
    throw new WeftError(
      "INVALID_SERIALIZED",
      `run event is malformed: ${parsed.error.issues[0]?.message ?? "?"}`,
    );
  return parsed.data;
}

/**
 * Replays a parsed event into a reporter (states rebuilt as State objects). A
 * flow event's task count updates `run` (the replaying side does not know it).
 */
export function replayEvent(
  event: RunEvent,
  reporter: Reporter,
  run: Parameters<NonNullable<Reporter["flowState"]>>[0],
): void {
  switch (event.event) {
    case "flow":
      if (event.taskCount !== undefined) (run as { taskCount: number }).taskCount = event.taskCount;
      reporter.flowState?.(run, stateFromJSON(event.state));
      return;
    case "task":
      reporter.taskState?.(
        run,
        { slug: event.slug, name: event.name, mapped: event.mapped },
        event.mapIndex,
        stateFromJSON(event.state),
      );
      return;
    case "log":
      reporter.log?.(event.record as LogRecord);
      return;
  }
}
