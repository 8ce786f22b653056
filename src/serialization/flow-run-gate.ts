// The task gate across the flow-run protocol (concurrency limits in a `weft execute`
// child): the child asks on its event channel, the parent, which holds the run's real gate
// (an agent's, asking the server), answers on the child's stdin. So a flow run in the
// subprocess environment waits for slots exactly as one in the agent's process does.
//
// Contracts:
// - Requests are event lines `{ event: "gate", op, id, slug, mapIndex?, tags }`: `enter`
//   (answered by `waiting` lines, then one `ok` or `error`), `exit` (answered `ok`) and
//   `cancel` (the child stopped waiting for request `id`: the parent gives back what that
//   request took). Answers are JSON lines `{ gate: id, … }` on stdin.
// - The child keeps stdin referenced only while a request is open, so that an idle child
//   still sees its event loop empty (the engine's unsettled-task watch relies on it).
// - Only when the parent set WEFT_TASK_GATE=1 does the child send gate events at all.
import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import type { GatedTaskRun, TaskGate } from "../core/task-gate.ts";
import { boundedString, LIMITS } from "./limits.ts";

/** A gate request of the child, as an event line. */
export const gateEventSchema = z.strictObject({
  event: z.literal("gate"),
  op: z.enum(["enter", "exit", "cancel"]),
  id: z.int().min(0),
  slug: boundedString(LIMITS.slug).min(1),
  mapIndex: z.int().min(0).optional(),
  tags: z.array(boundedString(LIMITS.name)),
});
/** One gate request. */
export type GateEvent = z.infer<typeof gateEventSchema>;

/** The parent's answer to a gate request, as a line on the child's stdin. */
const gateAnswerSchema = z.strictObject({
  gate: z.int().min(0),
  ok: z.literal(true).optional(),
  waiting: z.string().optional(),
  error: z.strictObject({ message: z.string(), code: z.string().optional() }).optional(),
});
type GateAnswer = z.infer<typeof gateAnswerSchema>;

interface Open {
  waiting?: (message: string) => void;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** What the child's gate needs of its process: where requests go, where answers come from. */
export interface ChildGateChannel {
  /** Writes one event line to the parent. */
  send(line: string): void;
  /** Keeps the process alive while a request is open (true), or not (false). */
  hold(open: boolean): void;
}

/**
 * The child's side: a {@link TaskGate} that asks the parent. Feed every line read from
 * stdin to `answer`.
 */
export function createChildTaskGate(channel: ChildGateChannel): {
  gate: TaskGate;
  answer(line: string): void;
} {
  let next = 0;
  const open = new Map<number, Open>();
  const ask = (op: GateEvent["op"], task: GatedTaskRun, id: number) =>
    channel.send(
      `${JSON.stringify({
        event: "gate",
        op,
        id,
        slug: task.slug,
        ...(task.mapIndex === undefined ? {} : { mapIndex: task.mapIndex }),
        tags: [...task.tags],
      } satisfies GateEvent)}\n`,
    );
  const request = (op: "enter" | "exit", task: GatedTaskRun, extra: Partial<Open> = {}) => {
    const id = next++;
    const settled = new Promise<void>((resolve, reject) => {
      open.set(id, { resolve, reject, ...extra });
    });
    channel.hold(true);
    ask(op, task, id);
    return { id, settled };
  };
  const close = (id: number) => {
    open.delete(id);
    if (open.size === 0) channel.hold(false);
  };
  const gate: TaskGate = {
    async enter(task, signal, waiting) {
      signal.throwIfAborted();
      const { id, settled } = request("enter", task, { waiting });
      const onAbort = () => {
        const entry = open.get(id);
        close(id);
        ask("cancel", task, id);
        entry?.reject(signal.reason as Error);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        await settled;
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    },
    async exit(task) {
      const { settled } = request("exit", task);
      // A refused release is the parent's to report; the task's final state frees it too.
      await settled.catch(() => {});
    },
  };
  return {
    gate,
    answer(line) {
      let parsed: GateAnswer;
      try {
        parsed = gateAnswerSchema.parse(JSON.parse(line));
      } catch {
        return;
      }
      const entry = open.get(parsed.gate);
      if (entry === undefined) return;
      if (parsed.waiting !== undefined) {
        entry.waiting?.(parsed.waiting);
        return;
      }
      close(parsed.gate);
      if (parsed.error === undefined) entry.resolve();
      else {
        const code = parsed.error.code;
        entry.reject(
          code === undefined
            ? new Error(parsed.error.message)
            : Object.assign(new Error(parsed.error.message), { code }),
        );
      }
    },
  };
}

/**
 * The parent's side: answers the child's gate requests through `gate`, writing answer
 * lines with `reply`. Call `handle` with every gate event; `close` when the child ended
 * (open requests are cancelled, so nothing they took is held).
 */
export function createGateAnswerer(
  gate: TaskGate,
  flowRunId: string,
  reply: (line: string) => void,
): { handle(event: GateEvent): void; close(): void } {
  const waits = new Map<number, AbortController>();
  const write = (answer: GateAnswer) => reply(`${JSON.stringify(answer)}\n`);
  const taskOf = (e: GateEvent): GatedTaskRun => ({
    flowRunId,
    slug: e.slug,
    mapIndex: e.mapIndex,
    tags: e.tags,
  });
  return {
    handle(e) {
      if (e.op === "cancel") {
        waits.get(e.id)?.abort(new WeftError("USAGE", "the flow-run process stopped waiting"));
        return;
      }
      if (e.op === "exit") {
        void gate.exit(taskOf(e)).finally(() => write({ gate: e.id, ok: true }));
        return;
      }
      const controller = new AbortController();
      waits.set(e.id, controller);
      const task = taskOf(e);
      gate
        .enter(task, controller.signal, (message) => write({ gate: e.id, waiting: message }))
        .then(
          async () => {
            // The child stopped waiting meanwhile: what was taken goes back now.
            if (controller.signal.aborted) await gate.exit(task);
            else write({ gate: e.id, ok: true });
          },
          (error: unknown) => {
            const { message, code } = error as { message?: string; code?: unknown };
            write({
              gate: e.id,
              error: {
                message: message ?? String(error),
                ...(typeof code === "string" ? { code } : {}),
              },
            });
          },
        )
        .finally(() => waits.delete(e.id));
    },
    close() {
      for (const controller of waits.values())
        controller.abort(new WeftError("USAGE", "the flow-run process ended"));
    },
  };
}
