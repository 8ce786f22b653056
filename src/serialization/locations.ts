import { WeftError } from "../core/errors.ts";

/** A parsed location: the code artifact and the flow inside it. */
export interface Location {
  readonly artifact: string;
  readonly flowName: string;
}

/**
 * Joins an artifact and a flow name into a location, `artifact#name` with the
 * name percent-encoded (a flow name may hold "#" or "%"; names of letters,
 * digits, "_", "-" and "." read the same encoded, so older locations still parse).
 */
export function formatLocation(artifact: string, flowName: string): string {
  return `${artifact}#${encodeURIComponent(flowName)}`;
}

/** Splits `artifact#flowName` (the name percent-encoded), refusing anything else. */
export function parseLocation(location: string, storage: string): Location {
  const at = typeof location === "string" ? location.lastIndexOf("#") : -1;
  const invalid = () =>
    new WeftError(
      "STORAGE_LOCATION_INVALID",
      `${storage}: location ${JSON.stringify(location)} is not <artifact>#<flow name>`,
    );
  if (at <= 0 || at === location.length - 1) throw invalid();
  let flowName: string;
  try {
    flowName = decodeURIComponent(location.slice(at + 1));
  } catch {
    throw invalid();
  }
  return { artifact: location.slice(0, at), flowName };
}

/**
 * Parses a location and refuses one whose artifact could point outside its
 * storage: an absolute path (`/…`, `\…`, `C:…`), a `..` segment (also spelled
 * `%2e%2e`, which URLs resolve as `..`), or a NUL byte. The one check of both
 * the storage guard (before any code is loaded) and registration (before a
 * flow is stored); `where` names the storage or the flow in the error.
 */
export function checkLocation(location: string, where: string): Location {
  const parsed = parseLocation(location, where);
  const { artifact } = parsed;
  const escapes =
    artifact.includes("\0") ||
    /^[\\/]/.test(artifact) ||
    /^[A-Za-z]:/.test(artifact) ||
    artifact.split(/[\\/]/).some((segment) => /^(\.|%2e){2}$/i.test(segment));
  if (escapes) {
    throw new WeftError(
      "STORAGE_LOCATION_ESCAPE",
      `${where}: location ${JSON.stringify(location)} points outside the storage`,
      { hint: "a location is relative to its storage and never contains .. or an absolute path" },
    );
  }
  return parsed;
}
