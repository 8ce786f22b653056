import type {
  FlowDetail,
  FlowRunDetail,
  FlowRunRecord,
  Page,
  TaskRunRecord,
} from "../../serialization/api-schemas.ts";
import { isCredentialName, MASKED, maskCredentials } from "../../serialization/credentials.ts";
import { type Caller, widestScope } from "./auth.ts";

// What a read-scope token sees: parameter values (defaults, a run's values, the
// results of parameter tasks) that look like credentials, by their shape or by a
// name such as `apiToken`, are shown as "***" (serialization/credentials.ts keeps
// the heuristic). Agent and admin tokens see them: agents run the flows, and an
// open loopback server has no scopes to tell apart.

/** True when the caller holds only the read scope. */
export function readsOnly(caller: Caller): boolean {
  return caller.kind === "token" && widestScope(caller.token.scopes) === "read";
}

/** A flow version with its credential-looking parameter defaults masked. */
export function maskFlowDetail(detail: FlowDetail): FlowDetail {
  return {
    ...detail,
    flow: {
      ...detail.flow,
      parameters: detail.flow.parameters.map((p) =>
        p.default === undefined
          ? p
          : {
              ...p,
              default: (isCredentialName(p.name)
                ? MASKED
                : maskCredentials(p.default)) as typeof p.default,
            },
      ),
    },
  };
}

/** A run with its credential-looking parameter values masked. */
export function maskFlowRun<R extends FlowRunRecord>(run: R): R {
  return { ...run, parameters: maskCredentials(run.parameters) as FlowRunRecord["parameters"] };
}

/** A page of runs, masked. */
export function maskFlowRunPage(page: Page<FlowRunRecord>): Page<FlowRunRecord> {
  return { ...page, items: page.items.map(maskFlowRun) };
}

/** A task run with its credential-looking result masked (a parameter task's result is the parameter's value). */
export function maskTaskRun(t: TaskRunRecord): TaskRunRecord {
  return t.state.result === undefined
    ? t
    : { ...t, state: { ...t.state, result: maskCredentials(t.state.result, t.slug) as never } };
}

/** A run with its task runs (and its flow version, when included), masked. */
export function maskFlowRunDetail(detail: FlowRunDetail): FlowRunDetail {
  const masked = { ...maskFlowRun(detail), taskRuns: detail.taskRuns.map(maskTaskRun) };
  return detail.flow === undefined ? masked : { ...masked, flow: maskFlowDetail(detail.flow) };
}
