/**
 * The container engine: one client for Docker and Podman alike, through the Docker Engine API
 * (Podman serves it with `podman system service`). Storages build and push images with it,
 * environments run containers with it. Everything here answers weft's errors: an engine that
 * cannot be reached, an image that cannot be found, a build step that failed, each named.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { WeftError } from "../core/errors.ts";

// dockerode (with its gRPC and SSH dependencies, ~200 modules) loads when an engine is first
// made, not when this module is imported: every `weft execute` imports the storage and
// environment registries, whose container kinds import this module.
let dockerode: typeof Docker | undefined;
function loadDockerode(): typeof Docker {
  dockerode ??= createRequire(import.meta.url)("dockerode") as typeof Docker;
  return dockerode;
}

/** The label every container weft starts carries; its value is the flow run id. */
export const RUN_LABEL = "io.weftflow.run";
/** The label naming the agent (or process) that started a container, for reaping. */
export const OWNER_LABEL = "io.weftflow.owner";

/**
 * Where an engine listens when nothing says: Docker's socket, then Podman's (rootful, then
 * rootless). `WEFT_CONTAINER_HOST` or `--container-host` overrides them.
 */
export function defaultContainerHosts(env: NodeJS.ProcessEnv = process.env): string[] {
  const hosts = ["unix:///var/run/docker.sock", "unix:///run/podman/podman.sock"];
  if (env.XDG_RUNTIME_DIR) hosts.push(`unix://${env.XDG_RUNTIME_DIR}/podman/podman.sock`);
  return hosts;
}

/** `unix:///path`, a bare absolute path, or `tcp://host:port` / `http://host:port`. */
export function parseContainerHost(host: string): Docker.DockerOptions {
  if (host.startsWith("unix://")) return { socketPath: host.slice("unix://".length) };
  if (host.startsWith("/")) return { socketPath: host };
  const match = /^(tcp|http):\/\/([^/:]+):(\d+)\/?$/.exec(host);
  if (match) return { protocol: "http", host: match[2], port: Number(match[3]) };
  throw new WeftError(
    "INVALID_ARGUMENT",
    `container host ${JSON.stringify(host)} is not one weft can use`,
    {
      hint: "give unix:///path/to/docker.sock or tcp://host:port (--container-host, WEFT_CONTAINER_HOST)",
    },
  );
}

/** Picks the engine's address: the one given, else the first default socket that exists. */
export function resolveContainerHost(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const chosen = given ?? env.WEFT_CONTAINER_HOST;
  if (chosen !== undefined && chosen !== "") return chosen;
  const candidates = defaultContainerHosts(env);
  return candidates.find((h) => existsSync(h.slice("unix://".length))) ?? (candidates[0] as string);
}

/** What a build, pull or push printed, line by line (the engine's JSON progress messages). */
interface ProgressMessage {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string };
}

/** A thin, typed door to one engine. */
export class ContainerEngine {
  readonly host: string;
  readonly docker: Docker;

  constructor(host?: string) {
    this.host = resolveContainerHost(host);
    const Dockerode = loadDockerode();
    this.docker = new Dockerode(parseContainerHost(this.host));
  }

  /** Resolves when the engine answers; otherwise CONTAINER_ENGINE_UNREACHABLE naming the host. */
  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw new WeftError(
        "CONTAINER_ENGINE_UNREACHABLE",
        `no container engine answers at ${this.host}: ${(error as Error).message}`,
        {
          cause: error,
          hint: "start Docker, or Podman's API service (`podman system service --time=0 unix:///run/podman/podman.sock`), and give its socket with --container-host or WEFT_CONTAINER_HOST",
        },
      );
    }
  }

  /** The image's id and repo digests, or undefined when the engine does not have it. */
  async inspectImage(ref: string): Promise<{ id: string; repoDigests: string[] } | undefined> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      return { id: info.Id, repoDigests: info.RepoDigests ?? [] };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.failed(`inspect image ${ref}`, error);
    }
  }

  /** Pulls `ref`; IMAGE_NOT_FOUND when no registry has it. */
  async pull(ref: string): Promise<void> {
    let stream: Readable;
    try {
      stream = (await this.docker.pull(ref)) as Readable;
    } catch (error) {
      throw imageNotFound(ref, error);
    }
    const messages = await this.follow(stream);
    const failure = messages.find((m) => m.error !== undefined);
    if (failure) throw imageNotFound(ref, new Error(failure.error));
  }

  /** Pushes `ref` (repository:tag) and answers the digest the registry gave it. */
  async push(ref: string): Promise<string | undefined> {
    const stream = (await this.docker
      .getImage(ref)
      .push({ authconfig: {} })
      .catch((error: unknown) => {
        throw this.failed(`push ${ref}`, error, "CONTAINER_PUSH_FAILED");
      })) as Readable;
    const messages = await this.follow(stream);
    const failure = messages.find((m) => m.error !== undefined);
    if (failure) {
      throw new WeftError("CONTAINER_PUSH_FAILED", `push of ${ref} failed: ${failure.error}`, {
        hint: "check that the registry is reachable and accepts pushes (an HTTP registry must be listed as insecure in the engine's configuration)",
      });
    }
    for (const m of messages) {
      const digest = m.aux?.Digest ?? /digest: (sha256:[0-9a-f]{64})/.exec(m.status ?? "")?.[1];
      if (digest) return digest;
    }
    return undefined;
  }

  /**
   * Builds an image from a tar stream of a build context with a `Dockerfile` at its root.
   * A failed step is CONTAINER_BUILD_FAILED with the step and the tail of the build's output.
   */
  async build(
    context: Readable,
    options: { tag: string; labels?: Record<string, string>; platform?: string },
  ): Promise<string> {
    let stream: Readable;
    try {
      stream = (await this.docker.buildImage(context, {
        t: options.tag,
        labels: options.labels ?? {},
        ...(options.platform ? { platform: options.platform } : {}),
        pull: false,
        rm: true,
        forcerm: true,
      })) as Readable;
    } catch (error) {
      throw this.failed(`build ${options.tag}`, error, "CONTAINER_BUILD_FAILED");
    }
    const messages = await this.follow(stream);
    const output = messages.map((m) => m.stream ?? m.status ?? "").join("");
    const failure = messages.find((m) => m.error !== undefined);
    if (failure) {
      const steps = output.match(/STEP \d+\/\d+: [^\n]*|Step \d+\/\d+ : [^\n]*/g) ?? [];
      const step = steps.at(-1) ?? "the build";
      throw new WeftError(
        "CONTAINER_BUILD_FAILED",
        `building ${options.tag} failed at ${step}: ${failure.error?.trim()}\n${tail(output, 20)}`,
        { hint: "the lines above are the end of the build's output" },
      );
    }
    const inspected = await this.inspectImage(options.tag);
    if (!inspected)
      throw new WeftError(
        "CONTAINER_BUILD_FAILED",
        `building ${options.tag} made no image\n${tail(output, 20)}`,
      );
    return inspected.id;
  }

  /** Containers carrying `label` (key or key=value), running or not. */
  async listByLabel(label: string): Promise<Docker.ContainerInfo[]> {
    try {
      return await this.docker.listContainers({ all: true, filters: { label: [label] } });
    } catch (error) {
      throw this.failed(`list containers labelled ${label}`, error);
    }
  }

  /** Removes a container, killing it first; a container already gone is fine. */
  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (error) {
      const status = statusOf(error);
      if (status === 404 || status === 409) return;
      throw this.failed(`remove container ${id}`, error);
    }
  }

  private follow(stream: Readable): Promise<ProgressMessage[]> {
    return new Promise((resolve, reject) => {
      this.docker.modem.followProgress(stream, (error: Error | null, output: ProgressMessage[]) =>
        error ? reject(this.failed("read the engine's progress", error)) : resolve(output ?? []),
      );
    });
  }

  private failed(
    what: string,
    error: unknown,
    code:
      | "CONTAINER_ENGINE_ERROR"
      | "CONTAINER_BUILD_FAILED"
      | "CONTAINER_PUSH_FAILED" = "CONTAINER_ENGINE_ERROR",
  ): WeftError {
    if (isConnectionError(error)) {
      return new WeftError(
        "CONTAINER_ENGINE_UNREACHABLE",
        `could not ${what}: no container engine answers at ${this.host}`,
        {
          cause: error,
          hint: "start the engine, or give its socket with --container-host or WEFT_CONTAINER_HOST",
        },
      );
    }
    return new WeftError(code, `could not ${what} on ${this.host}: ${engineMessage(error)}`, {
      cause: error,
    });
  }
}

function imageNotFound(ref: string, error: unknown): WeftError {
  return new WeftError(
    "IMAGE_NOT_FOUND",
    `image ${ref} is not on the engine and could not be pulled: ${engineMessage(error)}`,
    {
      cause: error,
      hint: "build it (`weft register --storage container …`), push it to a registry the engine can reach, or check the name",
    },
  );
}

/** The HTTP status of an engine API error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === "ENOENT" ||
    code === "ECONNREFUSED" ||
    code === "EACCES" ||
    code === "ECONNRESET" ||
    code === "ENOTFOUND"
  );
}

/** The engine's own message (its JSON `message`), else the error's. */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === "string") return json.message.trim();
  return error instanceof Error ? error.message : String(error);
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
