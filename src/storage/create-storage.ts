import { WeftError } from "../core/errors.ts";
import { createGitStorage } from "./git-storage.ts";
import { createHttpStorage } from "./http-storage.ts";
import { createLocalStorage } from "./local-storage.ts";
import { createMemoryStorage } from "./memory-storage.ts";
import { createModuleStorage } from "./module-storage.ts";
import { createS3Storage } from "./s3-storage.ts";
import { STORAGE_TYPES, type Storage } from "./storage.ts";

/**
 * Makes a storage of `kind` from loose options (command-line flags), checking
 * what each kind requires. Options not used by the kind are refused by name.
 */
export function createStorage(kind: string, options: Record<string, unknown> = {}): Storage {
  const str = (key: string): string | undefined => {
    const v = options[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "")
      throw new WeftError("USAGE", `${kind} storage: ${key} must be a non-empty string`);
    return v;
  };
  const need = (key: string): string => {
    const v = str(key);
    if (v === undefined)
      throw new WeftError("USAGE", `${kind} storage needs ${key}`, {
        hint: `pass --${kebab(key)} …`,
      });
    return v;
  };
  const allow = (...keys: string[]) => {
    for (const key of Object.keys(options)) {
      if (options[key] !== undefined && !keys.includes(key)) {
        throw new WeftError("USAGE", `${kind} storage has no option ${kebab(key)}`, {
          hint: `its options: ${keys.map(kebab).join(", ") || "none"}`,
        });
      }
    }
  };
  switch (kind) {
    case "memory":
      allow("name");
      return createMemoryStorage({ ...(str("name") ? { name: str("name")! } : {}) });
    case "local":
      allow("dir", "hostnameLabel", "name");
      return createLocalStorage({
        ...(str("dir") ? { directory: str("dir")! } : {}),
        ...(options.hostnameLabel === false ? { hostnameLabel: false } : {}),
        ...(str("name") ? { name: str("name")! } : {}),
      });
    case "module":
      allow("module", "name");
      return createModuleStorage({
        module: need("module"),
        ...(str("name") ? { name: str("name")! } : {}),
      });
    case "s3":
      allow("bucket", "prefix", "endpoint", "region", "pathStyle", "name");
      return createS3Storage({
        bucket: need("bucket"),
        ...(str("prefix") ? { prefix: str("prefix")! } : {}),
        ...(str("endpoint") ? { endpoint: str("endpoint")! } : {}),
        ...(str("region") ? { region: str("region")! } : {}),
        ...(options.pathStyle === true ? { forcePathStyle: true } : {}),
        ...(str("name") ? { name: str("name")! } : {}),
      });
    case "git":
      allow("repo", "ref", "path", "name");
      return createGitStorage({
        repo: need("repo"),
        path: need("path"),
        ...(str("ref") ? { ref: str("ref")! } : {}),
        ...(str("name") ? { name: str("name")! } : {}),
      });
    case "http":
      allow("url", "authHeader", "name");
      return createHttpStorage({
        url: need("url"),
        ...(str("authHeader") ? { authHeader: str("authHeader")! } : {}),
        ...(str("name") ? { name: str("name")! } : {}),
      });
    default:
      throw new WeftError(
        "UNKNOWN_TYPE",
        `unknown storage kind "${kind}" (known: ${STORAGE_TYPES.join(", ")})`,
      );
  }
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
