import { spawn } from "node:child_process";
import { WeftError } from "../core/errors.ts";
import { WEFT_BIN } from "../core/package.ts";
import { codeVariables } from "../serialization/flow-run-protocol.ts";
import type { EnvRunner, Storage } from "./storage.ts";

/**
 * An env runner for `location` in `storage`: it starts `node weft execute` and
 * tells it where the code is through the flow-run protocol's WEFT_FLOW_LOCATION and
 * WEFT_STORAGE (the storage's JSON); the caller adds the run's own variables.
 */
export function createEnvRunner(storage: Storage, location: string): EnvRunner {
  if (!storage.shareable) {
    throw new WeftError(
      "STORAGE_NOT_SHAREABLE",
      `${storage.type} storage ${storage.name} cannot be loaded by another process`,
      { hint: "use local, module, s3, git or http storage for runs in another process" },
    );
  }
  const env = codeVariables(storage.toJSON(), location);
  return {
    env,
    start(options = {}) {
      return spawn(process.execPath, [...(options.execArgv ?? []), WEFT_BIN, "execute"], {
        env: { ...process.env, ...env, ...options.env },
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        stdio: options.stdio ?? ["ignore", "pipe", "pipe"],
        detached: options.detached ?? false,
      });
    },
  };
}
