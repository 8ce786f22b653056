// The body of one worker thread of the worker-threads executor: it imports the
// flow's module (its own copy of weft, one runtime per thread), finds the task by
// slug, runs it through the task host and posts back the outcome (data).
import { parentPort } from "node:worker_threads";
import { WeftError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import type { LogRecord } from "../../core/reporter.ts";
import { toErrorData } from "../../core/states.ts";
import { loadFlowFromModule } from "../flow-loader.ts";
import { failure, hostTask, type TaskOutcome, TaskRunContext } from "../task-host.ts";
import type { WorkerReply, WorkerRequest } from "./worker-threads-protocol.ts";

const port = parentPort;
if (port === null) throw new Error("worker-threads-worker.ts must run in a worker thread");

const flows = new Map<string, Promise<Flow<unknown>>>();
const controllers = new Map<number, AbortController>();
const logSink = (record: LogRecord) => reply({ type: "log", record });

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

async function attempt(request: Extract<WorkerRequest, { type: "run" }>): Promise<TaskOutcome> {
  const controller = new AbortController();
  controllers.set(request.id, controller);
  try {
    const flow = await flowFor(request.moduleUrl, request.flowName);
    const node = flow.graph.node(request.slug);
    const scope = {
      info: { id: request.flowRunId, flowName: request.flowName, parameters: request.parameters },
      signal: controller.signal,
      logSink,
      results: undefined,
    };
    const ctx = new TaskRunContext(
      scope,
      node,
      request.mapIndex,
      request.attempt,
      request.loop?.count ?? 1,
      request.loop?.result,
      request.approved === true,
    );
    reply({ type: "started", id: request.id });
    return await hostTask(ctx, node.task.fn, request.args);
  } catch (error) {
    // The flow's module did not load, or names no such task.
    return failure(error);
  } finally {
    controllers.delete(request.id);
  }
}

async function run(request: Extract<WorkerRequest, { type: "run" }>): Promise<void> {
  const outcome = await attempt(request);
  try {
    reply({ type: "result", id: request.id, outcome });
  } catch (error) {
    const cause = toErrorData(error).message;
    const notCloneable = new WeftError(
      "VALUE_NOT_CLONEABLE",
      `the result of task ${request.slug} cannot cross from its worker thread: ${cause}`,
      {
        hint: "return plain data (objects, arrays, strings, numbers, Dates, Maps, typed arrays), not functions, class instances with methods or handles",
      },
    );
    reply({ type: "result", id: request.id, outcome: failure(notCloneable) });
  }
}

port.on("message", (message: WorkerRequest) => {
  if (message.type === "abort") controllers.get(message.id)?.abort(new Error(message.reason));
  else void run(message);
});
reply({ type: "ready" });
