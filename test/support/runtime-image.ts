// weft's runtime image for tests that run containers: the base image of the test engine plus
// this checkout's weft (built from dist/: run `node scripts/build.js --js` first).
import type { ContainerEngine } from "../../src/containers/engine.ts";

/** The tag of the runtime image on `engine`, built when missing. */
export async function testRuntimeImage(engine: ContainerEngine): Promise<string> {
  const dev = "localhost/weftflow-runtime:ctrenv-dev";
  if ((await engine.inspectImage(dev)) === undefined) throw new Error(`${dev} missing`);
  return dev;
}
