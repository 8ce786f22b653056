// The body of one worker thread of the worker-threads executor: it imports the
// flow's module (its own copy of weft, one runtime per thread), finds the task by
// slug, runs it and posts back the value or the error as data.
import { parentPort } from "node:worker_threads";
import { callInContext, type TaskContext } from "../../core/context.ts";
import { WeftError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import { createRunLogger, type Logger, type LogRecord } from "../../core/reporter.ts";
import { signalOf } from "../../core/signals.ts";
import { toErrorData } from "../../core/states.ts";
import { loadFlowFromModule } from "../flow-loader.ts";
import type { WorkerReply, WorkerRequest } from "./worker-threads-protocol.ts";

const port = parentPort;
if (port === null) throw new Error("worker-threads-worker.ts must run in a worker thread");

const flows = new Map<string, Promise<Flow<unknown>>>();
const controllers = new Map<number, AbortController>();

function flowFor(moduleUrl: string, flowName: string): Promise<Flow<unknown>> {
  const key = `${moduleUrl}#${flowName}`;
  let loading = flows.get(key);
  if (loading === undefined) {
    loading = loadFlowFromModule(moduleUrl, flowName);
    flows.set(key, loading);
  }
  return loading;
}

function reply(message: WorkerReply): void {
  port!.postMessage(message);
}

async function run(request: Extract<WorkerRequest, { type: "run" }>): Promise<void> {
  const controller = new AbortController();
  controllers.set(request.id, controller);
  try {
    const flow = await flowFor(request.moduleUrl, request.flowName);
    const node = flow.graph.node(request.slug);
    let logger: Logger | undefined;
    const sink = (record: LogRecord) => reply({ type: "log", record });
    const ctx: TaskContext = {
      flowRunId: request.flowRunId,
      flowName: request.flowName,
      taskSlug: request.slug,
      taskName: node.task.name,
      mapIndex: request.mapIndex,
      attempt: request.attempt,
      parameters: request.parameters,
      get logger() {
        logger ??= createRunLogger(sink, request.flowRunId, request.slug, request.mapIndex);
        return logger;
      },
      signal: controller.signal,
    };
    reply({ type: "started", id: request.id });
    const value = await callInContext(ctx, node.task.fn, request.args);
    try {
      reply({ type: "result", id: request.id, ok: true, value });
    } catch (error) {
      const cause = toErrorData(error).message;
      throw new WeftError(
        "VALUE_NOT_CLONEABLE",
        `the result of task ${request.slug} cannot cross from its worker thread: ${cause}`,
        {
          hint: "return plain data (objects, arrays, strings, numbers, Dates, Maps, typed arrays), not functions, class instances with methods or handles",
        },
      );
    }
  } catch (error) {
    const signal = signalOf(error);
    reply({
      type: "result",
      id: request.id,
      ok: false,
      error: toErrorData(error),
      ...(signal ? { signal } : {}),
    });
  } finally {
    controllers.delete(request.id);
  }
}

port.on("message", (message: WorkerRequest) => {
  if (message.type === "abort") controllers.get(message.id)?.abort(new Error(message.reason));
  else void run(message);
});
reply({ type: "ready" });
