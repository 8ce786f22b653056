// The container engine and registry the container tests use: WEFT_TEST_CONTAINER_HOST (a Docker
// API socket: Podman's service in CI, see .ci/containers.sh), WEFT_TEST_REGISTRY (host:port of a
// registry on loopback) and WEFT_TEST_BASE_IMAGE (a local image with node 20, no registry needed).
export const containerHost = process.env.WEFT_TEST_CONTAINER_HOST;
export const testRegistry = process.env.WEFT_TEST_REGISTRY;
export const baseImage = process.env.WEFT_TEST_BASE_IMAGE ?? "localhost/weft-node-base:20";

/** A skip reason for `describe(..., { skip })`, or false when the engine is configured. */
export const noContainerEngine = containerHost
  ? false
  : "WEFT_TEST_CONTAINER_HOST not set (bash .ci/containers.sh start DIR makes one)";
/** Likewise for tests that push to and pull from a registry. */
export const noRegistry =
  containerHost && testRegistry ? false : "WEFT_TEST_CONTAINER_HOST or WEFT_TEST_REGISTRY not set";
