import { WeftError } from "../core/errors.ts";

/** Keys whose values must never be serialized as literals. */
const CREDENTIAL_KEY =
  /secret|password|passwd|token|credential|private.?key|api.?key|access.?key|session.?key|auth/i;
/** A reference to where a secret comes from, resolved where it is used. */
const REFERENCE = /^env:[A-Za-z_][A-Za-z0-9_]*$/;
/** Values that look like keys whatever their field is called (AWS access key ids). */
const CREDENTIAL_VALUE = /^(AKIA|ASIA)[A-Z0-9]{16}$/;

/**
 * Refuses a serialized object that holds a credential: a credential-looking key
 * with a literal value (only `env:NAME` references are allowed), or a value shaped
 * like an access key. The error names the field, never the value.
 */
export function assertNoCredentials(json: unknown, where: string): void {
  const walk = (value: unknown, path: string, key: string | undefined) => {
    if (typeof value === "string") {
      const sensitive = key !== undefined && CREDENTIAL_KEY.test(key);
      if ((sensitive && value !== "" && !REFERENCE.test(value)) || CREDENTIAL_VALUE.test(value)) {
        throw new WeftError(
          "CREDENTIAL_IN_CONFIG",
          `${path} looks like a credential; serialized configuration may only name where a secret comes from`,
          {
            hint: `write "env:NAME" and set the environment variable NAME where the flow runs`,
          },
        );
      }
      return;
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) walk(value[i], `${path}[${i}]`, key);
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`, k);
    }
  };
  walk(json, where, undefined);
}

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
