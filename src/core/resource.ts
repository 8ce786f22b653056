// Resource managers (Prefect's resource_manager): a setup task that makes a
// resource (a database client, a temporary directory), the tasks of a block
// that use it, and a cleanup task that runs once they have all finished,
// whatever their states. Built as plain graph nodes, so slugs stay
// deterministic: `<name>-setup-N` and `<name>-cleanup-N`. The engine adds one
// rule (engine/run/graph-walk.ts): a cleanup whose setup did not succeed ends
// Skipped without running. A cleanup is never a default reference task
// (graph.ts), so a failed cleanup does not fail the flow unless it is strict.
import { WeftError } from "./errors.ts";
import { activeBuilder, type Ref } from "./graph.ts";
import { type Input, makeTask } from "./task.ts";
import { type ResolvedTaskOptions, resolveTaskOptions, type TaskOptions } from "./task-options.ts";

/** Options of a resource: how to make it, how to release it, and its tasks' retry options. */
export interface ResourceOptions<C, R> {
  /** Makes the resource from the config given to `use` (a task: it runs first). */
  setup: (config: C) => R;
  /**
   * Releases the resource once every task of the block has finished, whatever
   * their states. Skipped when setup did not succeed. @default does nothing
   */
  cleanup?: (resource: Awaited<R>) => unknown;
  /** Options of the setup and cleanup tasks. @default no retries, no timeout */
  options?: Pick<TaskOptions, "retries" | "retryDelay" | "timeout" | "tags">;
}

/** Builds the block of tasks that use a resource; see {@link Resource.use}. */
export type ResourceUse<C, R> = undefined extends C
  ? {
      <Out>(build: (resource: Ref<Awaited<R>>) => Out): Out;
      <Out>(config: Input<C>, build: (resource: Ref<Awaited<R>>) => Out): Out;
    }
  : <Out>(config: Input<C>, build: (resource: Ref<Awaited<R>>) => Out) => Out;

/** A resource manager: see {@link resource}. */
export interface Resource<C, R> {
  readonly name: string;
  /**
   * Inside a flow builder: adds the setup task (given `config`, a value or a
   * reference), runs `build` with a reference to the resource, and adds the
   * cleanup task after every task `build` made. Returns what `build` returns.
   */
  readonly use: ResourceUse<C, R>;
}

/**
 * Defines a resource manager. `use` it in a flow builder: setup runs first,
 * the tasks built inside the block get the resource as a reference, and
 * cleanup runs after all of them have finished (any state), unless setup
 * failed or was skipped (cleanup is then Skipped).
 * @example
 * const db = resource("db", {
 *   setup: (path: string) => new Database(path),
 *   cleanup: (client) => client.close(),
 * });
 * flow("load", () =>
 *   db.use(parameter("path", "app.db"), (client) => insert.map(rows, unmapped(client))),
 * );
 */
export function resource<C = undefined, R = unknown>(
  name: string,
  options: ResourceOptions<C, R>,
): Resource<C, R> {
  if (typeof name !== "string" || !/^[^\s/\\]{1,190}$/.test(name)) {
    throw new WeftError(
      "INVALID_TASK_OPTIONS",
      `resource name ${JSON.stringify(name)} is not usable: it must be 1–190 characters without spaces or slashes`,
    );
  }
  if (typeof options?.setup !== "function") {
    throw new WeftError("INVALID_TASK_OPTIONS", `resource "${name}": setup must be a function`);
  }
  if (options.cleanup !== undefined && typeof options.cleanup !== "function") {
    throw new WeftError("INVALID_TASK_OPTIONS", `resource "${name}": cleanup must be a function`);
  }
  const common = resolveTaskOptions(`${name}-setup`, options.options);
  const cleanupOptions: ResolvedTaskOptions = Object.freeze({
    ...common,
    trigger: "all_finished",
    skipOnUpstreamSkip: false,
  });
  const setup = makeTask(`${name}-setup`, "setup", options.setup, common);
  const cleanupFn = options.cleanup ?? (() => undefined);
  const cleanup = makeTask(`${name}-cleanup`, "cleanup", cleanupFn, cleanupOptions);
  const use = (...args: unknown[]): unknown => {
    const builder = activeBuilder();
    if (builder === undefined) {
      throw new WeftError(
        "TASK_OUTSIDE_FLOW",
        `resource "${name}" was used outside a flow builder`,
        { hint: `call ${name}.use(…) inside flow("…", () => { … })` },
      );
    }
    const build = args.length >= 2 ? args[1] : args[0];
    if (typeof build !== "function") {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `${name}.use(): the last argument must be a function that builds the tasks using the resource, got ${typeof build}`,
      );
    }
    const made = (setup as unknown as (config: unknown) => Ref<unknown>)(
      args.length >= 2 ? args[0] : undefined,
    );
    const start = builder.nodes.length;
    const out = (build as (resource: Ref<unknown>) => unknown)(made);
    const end = builder.nodes.length;
    // Entry tasks (no upstream task inside the block) wait for setup; cleanup
    // waits for the exit tasks (no downstream task inside the block), and so
    // for every task of the block.
    const inner = new Uint8Array(end - start);
    for (let i = start; i < end; i++) {
      const node = builder.nodes[i]!;
      if (node.task.kind === "parameter") continue;
      let entry = true;
      for (const u of node.upstream) {
        if (u < start || builder.nodes[u]!.task.kind === "parameter") continue;
        entry = false;
        inner[u - start] = 1;
      }
      if (entry && !node.upstream.includes(made.index)) node.after(made);
    }
    const done = cleanup(made as Ref<Awaited<R>>);
    for (let i = start; i < end; i++) {
      const node = builder.nodes[i]!;
      if (inner[i - start] === 0 && node.task.kind !== "parameter") done.after(node);
    }
    return out;
  };
  return Object.freeze({ name, use: use as ResourceUse<C, R> });
}
