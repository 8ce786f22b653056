// What a user may do with a run, offered only when their scope allows it (useSession().can):
// cancel (after a confirmation), re-run from failure (resume), re-run with other parameters (a
// form prefilled with the run's), approve a Paused task. An action the scope forbids is not
// shown at all.
//
// Resume and approve are one route (POST /api/flow-runs/:id/resume): both answer a NEW run, which
// the page then opens.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router";
import type { FlowRunDetail } from "../../../src/serialization/api-schemas.ts";
import type { SerializedFlow } from "../../../src/serialization/schemas.ts";
import { api } from "../api.ts";
import { useSession } from "../session.tsx";
import { ParameterForm } from "./parameter-form.tsx";
import { FINISHED_STATES, isCancellable, runKey } from "./run-data.ts";

/** A run is resumed once finished badly, or while Paused (approving a task). */
const RESUMABLE = new Set(["Failed", "TriggerFailed", "TimedOut", "Cancelled", "Paused"]);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function RunActions({
  run,
  flow,
}: {
  run: FlowRunDetail;
  flow: SerializedFlow | undefined;
}) {
  const session = useSession();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const [rerun, setRerun] = useState(false);
  const cancel = useMutation({
    mutationFn: () => api().cancelFlowRun(run.id),
    onSuccess: (record) => {
      setConfirming(false);
      queries.setQueryData<FlowRunDetail>(runKey(run.id), (old) =>
        old === undefined ? old : { ...old, ...record },
      );
      void queries.invalidateQueries({ queryKey: runKey(run.id) });
    },
  });
  const resumeRun = useMutation({
    mutationFn: () => api().resumeFlowRun(run.id),
    onSuccess: (created) => {
      void queries.invalidateQueries({ queryKey: runKey(run.id) });
      void navigate(`/runs/${encodeURIComponent(created.id)}`);
    },
  });

  const canCancel = session.can("cancel") && isCancellable(run.state.type);
  const canResume =
    session.can("resume") && RESUMABLE.has(run.state.type) && run.state.type !== "Paused";
  const canRerun = session.can("startRun") && flow !== undefined;
  if (!canCancel && !canResume && !canRerun) return null;
  return (
    <section className="run-actions" aria-label="Actions">
      {canCancel &&
        (confirming ? (
          <span className="run-confirm">
            Cancel this run?{" "}
            <button
              type="button"
              className="danger"
              disabled={cancel.isPending}
              onClick={() => cancel.mutate()}
            >
              Yes, cancel the run
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep it running
            </button>
          </span>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            Cancel run
          </button>
        ))}
      {canResume && (
        <button type="button" disabled={resumeRun.isPending} onClick={() => resumeRun.mutate()}>
          Re-run from failure
        </button>
      )}
      {canRerun && (
        <button type="button" aria-expanded={rerun} onClick={() => setRerun((r) => !r)}>
          Re-run with other parameters
        </button>
      )}
      {cancel.isError && (
        <p role="alert" className="run-action-error">
          Cancel failed: {message(cancel.error)}
        </p>
      )}
      {resumeRun.isError && (
        <p role="alert" className="run-action-error">
          Resume failed: {message(resumeRun.error)}
        </p>
      )}
      {rerun && flow !== undefined && (
        <ParameterForm
          specs={flow.parameters}
          initial={run.parameters}
          submitLabel="Start the run"
          onCancel={() => setRerun(false)}
          onSubmit={async (parameters) => {
            const { run: created } = await api().createFlowRun({
              flowId: run.flowId,
              parameters: parameters as FlowRunDetail["parameters"],
            });
            void navigate(`/runs/${encodeURIComponent(created.id)}`);
          }}
        />
      )}
    </section>
  );
}

/** "Approve" for a Paused task (manual_only or Pause), when the scope allows it. */
export function ApproveButton({
  run,
  slug,
  state,
}: {
  run: FlowRunDetail;
  slug: string;
  state: string | undefined;
}) {
  const session = useSession();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const approve = useMutation({
    mutationFn: () => api().resumeFlowRun(run.id, { approve: [slug] }),
    onSuccess: (created) => {
      void queries.invalidateQueries({ queryKey: runKey(run.id) });
      void navigate(`/runs/${encodeURIComponent(created.id)}`);
    },
  });
  // A waiting task is approved while its run is Paused, or once the run ended with it waiting.
  const runWaits = run.state.type === "Paused" || FINISHED_STATES.has(run.state.type);
  if (state !== "Paused" || !runWaits || !session.can("approve")) return null;
  return (
    <>
      <button type="button" disabled={approve.isPending} onClick={() => approve.mutate()}>
        Approve
      </button>
      {approve.isError && <span role="alert">Approve failed: {message(approve.error)}</span>}
    </>
  );
}
