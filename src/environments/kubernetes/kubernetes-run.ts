// One flow run as one Job (skeleton: the contract's shape; the run itself follows).
import { WeftError } from "../../core/errors.ts";
import type { State } from "../../core/states.ts";
import type { KubeClient } from "../../kubernetes/kube-client.ts";
import type { EnvRunner } from "../../storage/storage.ts";
import type { ExecuteContext } from "../environment.ts";
import type { KubernetesImage } from "./kubernetes-image.ts";
import type { KubernetesEnvironmentOptions } from "./kubernetes-options.ts";

/** What one Job run needs. */
export interface JobRunSpec {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly options: KubernetesEnvironmentOptions;
  readonly labels: readonly string[];
  readonly owner: string;
  readonly image: KubernetesImage;
  readonly runner: EnvRunner;
  readonly env: { plain: Record<string, string>; secrets: Record<string, string> };
  /** Told the Job's name once it exists (so that teardown can delete it). */
  readonly onCreated?: (job: { namespace: string; name: string }) => void;
}

/** How a Job run ended. */
export interface JobRunOutcome {
  readonly state: State;
  /** The Pod died without saying how the run ended (evicted, OOMKilled, deleted): run health's. */
  readonly crashed: boolean;
}

/** Runs one flow run as a Job and deletes the Job afterwards. */
export async function runJob(
  _spec: JobRunSpec,
  _ctx: ExecuteContext,
  _flowName: string,
): Promise<JobRunOutcome> {
  throw new WeftError("KUBERNETES_API_ERROR", "the kubernetes environment's run is not built yet");
}
