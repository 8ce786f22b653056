// Runs a command to completion in an image on the test engine and answers its exit code and
// output (for tests of what images hold). The container carries RUN_LABEL, so CI's stop reaps
// it if a test dies before removing it.
import { PassThrough } from "node:stream";
import type { ContainerEngine } from "../../src/containers/engine.ts";
import { RUN_LABEL } from "../../src/containers/engine.ts";

/** Exit code, stdout and stderr of `command` run in `image` (the container is removed). */
export async function runInImage(
  engine: ContainerEngine,
  image: string,
  command: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const container = await engine.docker.createContainer({
    Image: image,
    Cmd: [...command],
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: { [RUN_LABEL]: "ctrstore-test" },
    HostConfig: { NetworkMode: "none" },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as Buffer;
    const out = new PassThrough();
    const err = new PassThrough();
    const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
    out.on("data", (c: Buffer) => chunks.out.push(c));
    err.on("data", (c: Buffer) => chunks.err.push(c));
    engine.docker.modem.demuxStream(logsStream(logs), out, err);
    await new Promise((resolve) => setImmediate(resolve));
    return {
      code: StatusCode,
      stdout: Buffer.concat(chunks.out).toString("utf8"),
      stderr: Buffer.concat(chunks.err).toString("utf8"),
    };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

function logsStream(buffer: Buffer): PassThrough {
  const stream = new PassThrough();
  stream.end(buffer);
  return stream;
}

/** Removes every image of `repository` (by id, so that every tag and digest of it goes). */
export async function removeRepository(engine: ContainerEngine, repository: string): Promise<void> {
  const images = await engine.docker.listImages({ filters: { reference: [repository] } });
  for (const image of images) {
    await engine.docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
  }
}
