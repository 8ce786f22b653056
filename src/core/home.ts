import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

/**
 * weft's home directory: the SQLite file, local storage, result and bundle
 * caches live under it. `WEFT_HOME` wins over the default `~/.weft`.
 */
export function weftHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.WEFT_HOME;
  if (fromEnv !== undefined && fromEnv !== "")
    return isAbsolute(fromEnv) ? fromEnv : resolve(fromEnv);
  return join(homedir(), ".weft");
}
