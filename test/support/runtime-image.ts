// weft's runtime image for tests that run containers: the test engine's base image plus this
// checkout's weft (from dist/: the test script builds it), made once per content.
import type { ContainerEngine } from "../../src/containers/engine.ts";
import { ensureRuntimeImage } from "../../src/containers/runtime-image.ts";
import { baseImage } from "./containers.ts";

/** The tag of the runtime image on `engine`, built when missing. */
export function testRuntimeImage(engine: ContainerEngine): Promise<string> {
  return ensureRuntimeImage(engine, { baseImage });
}
