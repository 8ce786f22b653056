import { WeftError } from "../core/errors.ts";

/** Keys whose values must never be serialized as literals. */
const CREDENTIAL_KEY =
  /secret|password|passwd|token|credential|private.?key|api.?key|access.?key|session.?key|auth/i;
/** A reference to where a secret comes from, resolved where it is used. */
const REFERENCE = /^env:[A-Za-z_][A-Za-z0-9_]*$/;
/** Values that look like keys whatever their field is called: AWS access key ids, URLs with a password. */
const CREDENTIAL_VALUE = /^(AKIA|ASIA)[A-Z0-9]{16}$|^[a-z][a-z0-9+.-]*:\/\/[^/\s@]*:[^/\s@]+@/i;

/**
 * Refuses a serialized object that holds a credential: a credential-looking key
 * with a literal value (only `env:NAME` references are allowed), or a value shaped
 * like an access key. The error names the field, never the value.
 */
export function assertNoCredentials(json: unknown, where: string): void {
  const refuse = (path: string) => {
    throw new WeftError(
      "CREDENTIAL_IN_CONFIG",
      `${path} looks like a credential; serialized configuration may only name where a secret comes from`,
      {
        hint: `write "env:NAME" and set the environment variable NAME where the flow runs`,
      },
    );
  };
  // `sensitive`: somewhere above this value is a credential-looking key.
  // `names`: the keys here are names (flow names), not settings.
  const walk = (value: unknown, path: string, sensitive: boolean, names: boolean, depth = 0) => {
    if (depth > MAX_WALK_DEPTH) {
      // Bounded recursion: no configuration nests this deep, and a deeper one is refused, not walked.
      throw new WeftError(
        "INVALID_SERIALIZED",
        `${where} nests objects and arrays deeper than ${MAX_WALK_DEPTH} levels (at ${path.slice(0, 200)})`,
      );
    }
    if (typeof value === "string") {
      if ((sensitive && value !== "" && !REFERENCE.test(value)) || CREDENTIAL_VALUE.test(value))
        refuse(path);
      return;
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++)
        walk(value[i], `${path}[${i}]`, sensitive, false, depth + 1);
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        walk(
          v,
          `${path}.${k}`,
          sensitive || (!names && CREDENTIAL_KEY.test(k)),
          !names && NAME_MAPS.has(k),
          depth + 1,
        );
      }
    }
  };
  walk(json, where, false, false);
}

/** How deep the credential walk goes before it refuses the value (it recurses once per level). */
const MAX_WALK_DEPTH = 100;

/** Settings whose keys are names chosen by users (a flow called "refresh-token" is no secret). */
const NAME_MAPS = new Set(["flows"]);

/** Reads a secret named by an `env:NAME` reference from the environment. */
export function resolveSecretReference(
  reference: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (!REFERENCE.test(reference)) {
    throw new WeftError(
      "CREDENTIAL_IN_CONFIG",
      `${JSON.stringify(reference)} is not an env:NAME reference`,
    );
  }
  return env[reference.slice(4)];
}
