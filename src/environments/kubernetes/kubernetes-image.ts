// Which image a Job runs, decided from the storage and the options before anything is created.
// The cluster pulls images itself, from registries: weft cannot hand it an image from the
// agent's engine. So a container storage must be pushed (its `registry`: the image is then
// named by digest), unless `pullPolicy: "never"` says the image was loaded into the nodes'
// runtime by other means (`ctr images import`); a bundle storage (s3, http, git) needs an
// `image` holding weft (a pushed runtime image), which fetches the bundle inside the Pod; local
// storage, whose bundles are in the agent's files, is refused.
import { RUNTIME_COMMAND } from "../../containers/runtime-image.ts";
import { WeftError } from "../../core/errors.ts";
import type { Storage } from "../../storage/storage.ts";

/** The image and command of a Job run, and the kubelet's pull policy. */
export interface KubernetesImage {
  readonly image: string;
  readonly command: readonly string[];
  readonly pullPolicy: "Always" | "IfNotPresent" | "Never";
}

const POLICIES = { always: "Always", "if-not-present": "IfNotPresent", never: "Never" } as const;

/** The image for runs of `storage`'s flows; refuses a storage the cluster cannot run, naming why. */
export function resolveKubernetesImage(
  storage: Storage,
  options: {
    image?: string | undefined;
    /** The host's default image (an agent's --image): only where neither the flow nor its storage names one. */
    fallbackImage?: string | undefined;
    pullPolicy: keyof typeof POLICIES;
  },
): KubernetesImage {
  const pullPolicy = POLICIES[options.pullPolicy];
  const location = Object.values(storage.flows)[0];
  const provided = location === undefined ? undefined : storage.getEnvRunner(location).container;
  if (provided !== undefined) {
    if (options.image !== undefined) return { ...provided, image: options.image, pullPolicy };
    if (!storage.remote && pullPolicy !== "Never") {
      throw new WeftError(
        "STORAGE_NOT_SHAREABLE",
        `the kubernetes environment runs flows on the cluster's nodes, which cannot pull image ${provided.image} of container storage ${storage.name}: it is only on the engine that built it`,
        {
          hint: "set the container storage's registry option (a registry the cluster pulls from; the image is then pushed and named by digest), or load the image into the nodes and set the environment's pullPolicy \"never\"",
        },
      );
    }
    return { ...provided, pullPolicy };
  }
  if (!storage.remote) {
    throw new WeftError(
      "STORAGE_NOT_SHAREABLE",
      `the kubernetes environment runs flows on the cluster's nodes, which cannot load from ${storage.type} storage ${storage.name} (its code is in this host's files)`,
      { hint: "use container storage with a registry, or s3, http or git storage" },
    );
  }
  const image = options.image ?? options.fallbackImage;
  if (image === undefined) {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `the kubernetes environment needs an image to run flows of ${storage.type} storage ${storage.name}: the cluster cannot build weft's runtime image`,
      {
        hint: "set the environment's image option (a runtime image pushed to a registry the cluster pulls from), or use container storage with a registry",
      },
    );
  }
  return { image, command: RUNTIME_COMMAND, pullPolicy };
}
