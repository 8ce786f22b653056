// The container environment: each flow run in a fresh container of the flow's image, started
// through the Docker Engine API (Docker or Podman), running `weft execute` driven by the
// flow-run protocol's variables, with its events on stdout behind a per-run marker
// (container-run.ts reads them). Pure configuration like every environment; what belongs to
// the host that runs it (its engine, who it is, which host paths runs may mount) comes from
// `setup(storage, host)`, never from the JSON a registrant wrote.
//
// Decisions:
// - The image: the storage's (a container storage names its image in its env runner), else
//   the `image` option, else the runtime image built on this engine from this weft
//   (ensureRuntimeImage): a bundle storage's code is then fetched inside the container.
// - Pairing: the storage must be remote (s3, http, git; a pushed container storage) or
//   provide its own image (a container storage): local storage, whose bundles sit in this
//   host's directories, is refused. A storage fetched over the network with `network: none`
//   is refused too, naming the option.
// - Mounts are refused unless the host allows their source (`--allow-mount DIR`).
// - Containers carry RUN_LABEL (the run id) and OWNER_LABEL (the agent's name): an agent
//   killed -9 leaves its containers behind, and the next agent of that name removes them
//   when it starts (`containerEnvironmentKind.reap`).
import { resolve as resolvePath, sep } from "node:path";
import { z } from "zod";
import { ContainerEngine, OWNER_LABEL, RUN_LABEL } from "../../containers/engine.ts";
import { WeftError } from "../../core/errors.ts";
import { type ExecutorSpec, flowExecutorSchema } from "../../core/executor-spec.ts";
import {
  assertNoCredentials,
  isKubernetesSecretReference,
  resolveSecretReference,
} from "../../serialization/credentials.ts";
import {
  createEventsMarker,
  PARAMETERS_IN_ENV_MAX,
  runVariables,
} from "../../serialization/flow-run-protocol.ts";
import { parseLocation, type Storage } from "../../storage/storage.ts";
import {
  commonFlagOptions,
  type Environment,
  type EnvironmentHooks,
  type EnvironmentHost,
  type EnvironmentKind,
  type ExecuteContext,
  type ExecuteResult,
  type SerializedEnvironment,
  withHooks,
} from "../environment.ts";
import { type EnvironmentImpl, guardEnvironment } from "../environment-guard.ts";
import { checkEnvironmentOptions, optionsFromJSON } from "../environment-options.ts";
import { type ContainerImageSource, resolveImage } from "./container-image.ts";
import { runContainer } from "./container-run.ts";

/** The pull policies: pull every time, only when the engine lacks the image, or never. */
export const PULL_POLICIES = ["always", "if-not-present", "never"] as const;
/** One of {@link PULL_POLICIES}. */
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** A host directory mounted into the container (refused unless the host allows its source). */
export interface ContainerMount {
  /** An absolute path on the host. */
  source: string;
  /** An absolute path in the container. */
  target: string;
  /** @default false */
  readOnly?: boolean;
}

/** Options of the container environment. */
export interface ContainerEnvironmentOptions extends EnvironmentHooks {
  /** The image to run. @default the storage's image, else weft's runtime image built on the agent's engine */
  image?: string;
  /**
   * The base of weft's runtime image, built on the agent's engine when neither the storage
   * nor `image` names an image (it must have node 20 or later). @default "docker.io/library/node:20-slim"
   */
  baseImage?: string;
  /** `none`, `host`, or the name of a network on the engine. @default "none" */
  network?: string;
  /** The container's memory limit in MiB (swap included). @default no limit */
  memoryMb?: number;
  /** CPUs the container may use (e.g. 0.5). @default no limit */
  cpus?: number;
  /**
   * Variables for the flow-run process: `env:NAME` references only, read from the agent's
   * environment when a run starts (an unset NAME leaves the variable out). @default {}
   */
  env?: Record<string, string>;
  /** Labels on the container (weft's own io.weftflow.* labels cannot be set). @default {} */
  containerLabels?: Record<string, string>;
  /** Host directories to mount; each source must be allowed by the agent (--allow-mount). @default [] */
  mounts?: ContainerMount[];
  /** When to pull the image. @default "if-not-present" */
  pullPolicy?: PullPolicy;
  /** The user (name or uid[:gid]) the flow runs as. @default the image's */
  user?: string;
  /** Where task bodies run inside the container. @default "concurrent" */
  executor?: ExecutorSpec;
  /** Wall-clock limit of the whole run in ms; past it the container is killed. @default none */
  timeoutMs?: number;
  /** After a cancel, how long the container may take to stop before it is killed. @default 5000 */
  killGraceMs?: number;
  /** Agents must carry all of these. @default [] */
  labels?: string[];
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const absolute = z.string().regex(/^\//, "an absolute path");

/** The JSON of a container environment. */
export const containerEnvironmentSchema = z.strictObject({
  type: z.literal("container"),
  schemaVersion: z.literal(1),
  labels: z.array(z.string().min(1)),
  image: z.string().min(1).optional(),
  baseImage: z.string().min(1).optional(),
  network: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "none, host or a network name")
    .optional(),
  memoryMb: z.int().min(6).optional(),
  cpus: z.number().positive().max(1024).optional(),
  env: z.record(z.string().regex(VARIABLE_NAME), z.string()).optional(),
  containerLabels: z
    .record(
      z
        .string()
        .min(1)
        .refine((k) => !k.startsWith("io.weftflow."), "io.weftflow.* is weft's"),
      z.string(),
    )
    .optional(),
  mounts: z
    .array(z.strictObject({ source: absolute, target: absolute, readOnly: z.boolean().optional() }))
    .optional(),
  pullPolicy: z.enum(PULL_POLICIES).optional(),
  user: z.string().min(1).optional(),
  executor: flowExecutorSchema.optional(),
  timeoutMs: z.int().min(1).optional(),
  killGraceMs: z.int().min(0).optional(),
});

/** Where the flow-run process keeps its bundle cache inside the container (writable for any user). */
const CONTAINER_HOME = "/tmp/weft-home";

class ContainerEnvironment implements EnvironmentImpl {
  readonly type = "container";
  readonly storageNeeds = "shareable";
  readonly runsImages = true;
  readonly labels: string[];
  private host: EnvironmentHost = {};
  private engine: ContainerEngine | undefined;
  /** The image each storage's runs use, decided at setup (or at the first execute). */
  private readonly images = new WeakMap<Storage, Promise<ContainerImageSource>>();
  /** Containers of runs in progress, by run id (teardown removes what is left). */
  private readonly containers = new Map<string, string>();

  constructor(private readonly options: ContainerEnvironmentOptions) {
    this.labels = checkEnvironmentOptions("container", containerEnvironmentSchema, options);
    // Only references: a literal would travel to the server with the flow (and sit in its database).
    assertNoCredentials({ env: options.env ?? {} }, "container environment");
    for (const [name, value] of Object.entries(options.env ?? {})) {
      if (!isKubernetesSecretReference(value)) continue;
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `container environment: env.${name} is a Kubernetes Secret reference (${value}), which only the kubernetes environment reads`,
        { hint: `write "${name}": "env:${name}" and set that variable where the agent runs` },
      );
    }
  }

  get hooks(): EnvironmentHooks {
    return this.options;
  }

  /** The engine answers, the storage fits, mounts are allowed, the image is here or pulled. */
  async setup(storage: Storage, host: EnvironmentHost = {}): Promise<void> {
    this.host = host;
    this.engine = undefined;
    // A storage not built yet (`weft run` sets up first) says nothing of its image: the engine
    // and the mounts are checked now, the image at the first execute.
    if (Object.keys(storage.flows).length === 0) {
      checkMounts(this.options.mounts ?? [], this.host.allowMounts ?? []);
      await this.engineOf().ping();
      return;
    }
    await this.prepare(storage);
  }

  private engineOf(): ContainerEngine {
    this.engine ??= new ContainerEngine(this.host.containerHost);
    return this.engine;
  }

  private prepare(storage: Storage): Promise<ContainerImageSource> {
    let image = this.images.get(storage);
    if (image === undefined) {
      image = (async () => {
        checkMounts(this.options.mounts ?? [], this.host.allowMounts ?? []);
        const engine = this.engineOf();
        await engine.ping();
        return resolveImage(engine, storage, {
          ...(this.options.image === undefined ? {} : { image: this.options.image }),
          ...(this.options.baseImage === undefined ? {} : { baseImage: this.options.baseImage }),
          pullPolicy: this.options.pullPolicy ?? "if-not-present",
          network: this.options.network ?? "none",
        });
      })();
      this.images.set(storage, image);
      image.catch(() => this.images.delete(storage));
    }
    return image;
  }

  async execute(storage: Storage, location: string, ctx: ExecuteContext): Promise<ExecuteResult> {
    const flowName = parseLocation(location, storage.name).flowName;
    let crashed = false;
    const result = await withHooks(this.options, ctx, flowName, async (inner) => {
      const outcome = await this.runIn(storage, location, flowName, inner);
      crashed = outcome.crashed;
      return outcome.state;
    });
    return crashed ? { ...result, crashed: true } : result;
  }

  private async runIn(storage: Storage, location: string, flowName: string, ctx: ExecuteContext) {
    const o = this.options;
    const source = await this.prepare(storage);
    const engine = this.engineOf();
    const runner = storage.getEnvRunner(location);
    const parameters = JSON.stringify(ctx.parameters ?? {});
    if (Buffer.byteLength(parameters) > PARAMETERS_IN_ENV_MAX) {
      throw new WeftError(
        "INVALID_PARAMETER",
        `the parameters of run ${ctx.flowRunId} are ${Buffer.byteLength(parameters)} bytes of JSON; a container run takes ${PARAMETERS_IN_ENV_MAX} at most`,
        { hint: "pass large inputs by reference (a path or URL the flow reads)" },
      );
    }
    const marker = createEventsMarker();
    const env: Record<string, string> = {
      WEFT_HOME: CONTAINER_HOME,
      ...resolveEnvMap(o.env),
      ...ctx.env,
      ...runner.env,
      ...runVariables({
        flowRunId: ctx.flowRunId,
        parameters: { json: parameters },
        eventsMarker: marker,
        // The attach holds stdin open: when this process dies, the run stops (container-run.ts).
        exitWithParent: true,
        // Concurrency limits: gate requests come out as events, answers go in on stdin.
        ...(ctx.taskGate === undefined ? {} : { taskGate: true }),
        ...(o.executor === undefined ? {} : { executor: o.executor }),
        ...(ctx.resume === undefined ? {} : { resume: ctx.resume }),
        ...(ctx.approve === undefined ? {} : { approve: ctx.approve }),
      }),
    };
    const owner = this.host.owner ?? `pid-${process.pid}`;
    const memory = o.memoryMb === undefined ? undefined : o.memoryMb * 1024 * 1024;
    const run = { id: ctx.flowRunId, flowName, parameters: ctx.parameters ?? {}, taskCount: 0 };
    return runContainer(
      {
        engine,
        marker,
        killGraceMs: o.killGraceMs ?? 5000,
        ...(o.memoryMb === undefined ? {} : { memoryMb: o.memoryMb }),
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        onCreated: (id) => this.containers.set(ctx.flowRunId, id),
        create: {
          Image: source.image,
          Cmd: [...source.command],
          Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
          Labels: { ...o.containerLabels, [RUN_LABEL]: ctx.flowRunId, [OWNER_LABEL]: owner },
          ...(o.user === undefined ? {} : { User: o.user }),
          AttachStdin: true,
          AttachStdout: true,
          AttachStderr: true,
          Tty: false,
          OpenStdin: true,
          StdinOnce: true,
          HostConfig: {
            Init: true,
            NetworkMode: o.network ?? "none",
            ...(memory === undefined ? {} : { Memory: memory, MemorySwap: memory }),
            ...(o.cpus === undefined ? {} : { NanoCpus: Math.round(o.cpus * 1e9) }),
            ...(o.mounts === undefined || o.mounts.length === 0
              ? {}
              : {
                  Binds: o.mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ":ro" : ""}`),
                }),
          },
        },
      },
      ctx,
      run,
    ).finally(() => this.containers.delete(ctx.flowRunId));
  }

  async teardown(ctx: ExecuteContext): Promise<void> {
    const id = this.containers.get(ctx.flowRunId);
    if (id !== undefined) await this.engineOf().remove(id);
  }

  toJSON(): SerializedEnvironment {
    const { onStart: _start, onExit: _exit, labels: _labels, ...settings } = this.options;
    return { type: this.type, schemaVersion: 1, labels: this.labels, ...settings };
  }
}

/** Refuses a mount whose source is not inside a directory the host allows. */
function checkMounts(mounts: readonly ContainerMount[], allowed: readonly string[]): void {
  const roots = allowed.map((a) => resolvePath(a));
  for (const mount of mounts) {
    const source = resolvePath(mount.source);
    const ok = roots.some((root) => source === root || source.startsWith(root + sep));
    if (ok) continue;
    throw new WeftError(
      "CONTAINER_MOUNT_NOT_ALLOWED",
      `the container environment mounts ${mount.source}, which this agent does not allow${roots.length === 0 ? " (it allows no mounts)" : ` (it allows ${roots.join(", ")})`}`,
      {
        hint: `start the agent with --allow-mount ${source} (WEFT_ALLOW_MOUNTS) if runs may read and write it, or drop the mount`,
      },
    );
  }
}

/** The container's extra variables: `env:NAME` references read from this process's environment. */
function resolveEnvMap(map: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(map ?? {})) {
    const resolved = resolveSecretReference(value);
    if (resolved !== undefined) out[name] = resolved;
  }
  return out;
}

/**
 * Runs each flow run in a fresh container (Docker or Podman, through the Docker Engine API):
 * the flow's image, no network by default, optional memory and CPU limits. Needs a storage
 * that provides an image (container storage) or that a container can fetch from (s3, http, git).
 * @example
 * createContainerEnvironment({ memoryMb: 512, network: "host", env: { API_KEY: "env:API_KEY" } })
 */
export function createContainerEnvironment(options: ContainerEnvironmentOptions = {}): Environment {
  return guardEnvironment(new ContainerEnvironment(options), containerEnvironmentKind);
}

/** Rebuilds a container environment from validated JSON. */
export function containerEnvironmentFromJSON(
  json: z.infer<typeof containerEnvironmentSchema>,
): Environment {
  return createContainerEnvironment(optionsFromJSON<ContainerEnvironmentOptions>(json));
}

/**
 * Removes the containers a host's earlier process left (an agent killed -9): every container
 * labelled with `host.owner`. Answers how many it removed; an engine that does not answer
 * removes nothing (a host without containers has nothing to reap).
 */
async function reapContainers(host: EnvironmentHost & { owner: string }): Promise<number> {
  const engine = new ContainerEngine(host.containerHost);
  // An agent on a host without an engine starts at once: a silent engine reaps nothing.
  let timer: NodeJS.Timeout | undefined;
  const answered = await Promise.race([
    engine.ping().then(
      () => true,
      () => false,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), REAP_PING_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!answered) return 0;
  const left = await engine.listByLabel(`${OWNER_LABEL}=${host.owner}`);
  await Promise.all(left.map((c) => engine.remove(c.Id)));
  return left.length;
}

/** How long reaping waits for the engine to answer before it gives up (nothing reaped). */
const REAP_PING_MS = 3000;

/** The container environment kind. */
export const containerEnvironmentKind: EnvironmentKind<z.infer<typeof containerEnvironmentSchema>> =
  {
    type: "container",
    schema: containerEnvironmentSchema,
    create: containerEnvironmentFromJSON,
    capabilities: { storageNeeds: "shareable", retriesElsewhere: false },
    reap: reapContainers,
    fromFlags: (options) =>
      createContainerEnvironment({
        ...commonFlagOptions(options),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.env === undefined ? {} : { env: options.env }),
      }),
  };
