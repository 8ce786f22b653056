// Which image a container run starts, and making sure the engine has it (THE CONTRACT of
// issue 15): a storage that provides an image (container storage) names it in its env
// runner's `container`; otherwise the environment's `image` option, or weft's runtime image
// built on this engine from this weft, runs `weft execute`, which fetches the bundle from a
// remote storage (s3, http, git). Local storage is refused: its bundles are in this host's
// directories, which a container does not see.
import type { ContainerEngine } from "../../containers/engine.ts";
import { ensureRuntimeImage, RUNTIME_COMMAND } from "../../containers/runtime-image.ts";
import { WeftError } from "../../core/errors.ts";
import type { EnvRunnerContainer, Storage } from "../../storage/storage.ts";

/** The image and command of a container run. */
export type ContainerImageSource = EnvRunnerContainer;

/** The image a storage provides, when it is one that does (container storage). */
function storageImage(storage: Storage): ContainerImageSource | undefined {
  const location = Object.values(storage.flows)[0];
  if (location === undefined) return undefined;
  return storage.getEnvRunner(location).container;
}

/**
 * The image for runs of `storage`'s flows, present on the engine (pulled as the policy says);
 * refuses a storage a container cannot load from, naming why.
 */
export async function resolveImage(
  engine: ContainerEngine,
  storage: Storage,
  options: {
    image?: string;
    baseImage?: string;
    pullPolicy: "always" | "if-not-present" | "never";
    network: string;
  },
): Promise<ContainerImageSource> {
  const provided = storageImage(storage);
  let source: ContainerImageSource;
  if (provided !== undefined) {
    source = options.image === undefined ? provided : { ...provided, image: options.image };
  } else {
    if (!storage.remote) {
      throw new WeftError(
        "STORAGE_NOT_SHAREABLE",
        `the container environment runs flows in a container, which cannot load from ${storage.type} storage ${storage.name} (its code is in this host's files)`,
        { hint: "use container storage (an image holding the flows), or s3, http or git storage" },
      );
    }
    if (options.network === "none") {
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `the container environment has network "none", but ${storage.type} storage ${storage.name} is fetched over the network inside the container`,
        {
          hint: 'set the environment\'s network to "host" or a network name, or use container storage (the flows are in the image)',
        },
      );
    }
    if (options.image === undefined) {
      // Built here, from this weft: present by construction, never pulled.
      const image = await ensureRuntimeImage(
        engine,
        options.baseImage === undefined ? {} : { baseImage: options.baseImage },
      );
      return { image, command: RUNTIME_COMMAND };
    }
    source = { image: options.image, command: RUNTIME_COMMAND };
  }
  await ensurePresent(engine, source.image, options.pullPolicy);
  return source;
}

async function ensurePresent(
  engine: ContainerEngine,
  image: string,
  policy: "always" | "if-not-present" | "never",
): Promise<void> {
  if (policy === "always") {
    await engine.pull(image);
    return;
  }
  if ((await engine.inspectImage(image)) !== undefined) return;
  if (policy === "never") {
    throw new WeftError(
      "IMAGE_NOT_FOUND",
      `image ${image} is not on the engine at ${engine.host}, and the pull policy is "never"`,
      { hint: 'build or load it on this engine, or set pullPolicy "if-not-present"' },
    );
  }
  await engine.pull(image);
}
