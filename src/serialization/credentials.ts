import { WeftError } from "../core/errors.ts";

/** Keys whose values must never be serialized as literals. */
const CREDENTIAL_KEY =
  /secret|password|passwd|token|credential|private.?key|api.?key|access.?key|session.?key|auth/i;
/** A reference to where a secret comes from, resolved where it is used. */
const REFERENCE = /^env:[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * A reference to a key of a Kubernetes Secret (`secret:NAME/KEY`): the kubernetes environment
 * hands it to the Pod as `valueFrom.secretKeyRef`, so the value never passes through weft.
 */
const KUBE_SECRET_REFERENCE =
  /^secret:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/[-._a-zA-Z0-9]{1,253}$/;
/** Values that look like keys whatever their field is called: AWS access key ids, URLs with a password. */
const CREDENTIAL_VALUE = /^(AKIA|ASIA)[A-Z0-9]{16}$|^[a-z][a-z0-9+.-]*:\/\/[^/\s@]*:[^/\s@]+@/i;
/** A URL (scheme first), whose query may carry a signature. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;
/**
 * Query parameters that make a URL a bearer credential (a pre-signed or SAS URL
 * works for whoever holds it): S3 and GCS signatures, Azure SAS `sig`,
 * CloudFront `Signature`/`Policy`/`Key-Pair-Id`, Google `key`, and names with
 * token, secret, password, signature, credential or api key in them.
 */
const SIGNED_QUERY =
  /^(x-(amz|goog)-(signature|credential|security-token)|sig|signature|policy|key-pair-id|key|auth)$|token|secret|passw(or)?d|signature|credential|api.?key/i;
/** Settings whose values are environment variables handed to flow-run processes. */
const ENV_MAPS = new Set(["env"]);

/**
 * Refuses a serialized object that holds a credential: a credential-looking key
 * with a literal value (only `env:NAME` references are allowed), a value shaped
 * like an access key, a literal value in an `env` map (every variable handed to
 * a flow-run process is an `env:NAME` reference, read where the flow runs), or
 * a URL whose query carries a signature or token. The error names the field,
 * never the value.
 */
export function assertNoCredentials(json: unknown, where: string): void {
  const refuse = (path: string, why = "looks like a credential") => {
    throw new WeftError(
      "CREDENTIAL_IN_CONFIG",
      `${path} ${why}; serialized configuration may only name where a secret comes from`,
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
      const reference = REFERENCE.test(value) || KUBE_SECRET_REFERENCE.test(value);
      if ((sensitive && value !== "" && !reference) || CREDENTIAL_VALUE.test(value)) refuse(path);
      const signed = signedQueryParameter(value);
      if (signed !== undefined)
        refuse(
          path,
          `is a URL whose query holds ${JSON.stringify(signed)}, which works as a credential`,
        );
      return;
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++)
        walk(value[i], `${path}[${i}]`, sensitive, false, depth + 1);
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        if (!names && ENV_MAPS.has(k)) checkEnvMap(v, `${path}.${k}`);
        walk(
          v,
          `${path}.${k}`,
          sensitive || (!names && CREDENTIAL_KEY.test(k) && !SECRET_NAME_KEYS.has(k)),
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

/** Settings that hold names of Kubernetes Secrets (a kubernetes environment's), never their content. */
const SECRET_NAME_KEYS = new Set(["imagePullSecrets"]);

/** Settings whose keys are names chosen by users (a flow called "refresh-token" is no secret). */
const NAME_MAPS = new Set(["flows"]);

/** Refuses an `env` map with a literal value: only `env:NAME` references are stored. */
function checkEnvMap(map: unknown, path: string): void {
  if (typeof map !== "object" || map === null || Array.isArray(map)) return;
  for (const [name, value] of Object.entries(map)) {
    if (typeof value === "string" && (REFERENCE.test(value) || KUBE_SECRET_REFERENCE.test(value)))
      continue;
    throw new WeftError(
      "CREDENTIAL_IN_CONFIG",
      `${path}.${name} is a literal value; an env map that is stored or sent may only hold env:NAME references`,
      {
        hint: `write "${name}": "env:${/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : "NAME"}" and set that variable where the flow runs (the agent's environment)`,
      },
    );
  }
}

/** The first query parameter of a URL that makes it a credential, if any. */
function signedQueryParameter(value: string): string | undefined {
  if (!URL_LIKE.test(value) || !value.includes("?")) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  for (const key of url.searchParams.keys()) {
    if (SIGNED_QUERY.test(key)) return key;
  }
  return undefined;
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

/** True for a `secret:NAME/KEY` reference (a key of a Kubernetes Secret). */
export function isKubernetesSecretReference(value: string): boolean {
  return KUBE_SECRET_REFERENCE.test(value);
}

/** True for an `env:NAME` reference. */
export function isSecretReference(value: string): boolean {
  return REFERENCE.test(value);
}

/**
 * Values that are credentials by their shape, whatever they are called. Kept
 * conservative, so that ordinary values stay readable:
 * - AWS access key ids (`AKIA…`, `ASIA…`, 20 characters);
 * - PEM private keys (`-----BEGIN … PRIVATE KEY-----`);
 * - GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Slack (`xoxb-`,
 *   `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`), Stripe (`sk_live_`, `rk_live_`), Google API
 *   (`AIza…`), npm (`npm_…`) tokens, and JSON Web Tokens (`eyJ….eyJ….…`);
 * - URLs with a password or a signed query (as {@link assertNoCredentials});
 * - a long high-entropy token: 32 or more characters of one word (letters,
 *   digits, `+/=_-`) with upper case, lower case and at least two digits mixed,
 *   no run of 7 lower-case letters (words), and at least 4 bits of entropy per
 *   character. Hex digests and UUIDs (no upper case) and long identifiers stay.
 */
export function looksLikeCredential(value: string): boolean {
  if (value.length < 16) return false;
  if (KNOWN_SHAPES.some((shape) => shape.test(value))) return true;
  if (CREDENTIAL_VALUE.test(value) || signedQueryParameter(value) !== undefined) return true;
  return highEntropyToken(value);
}

const KNOWN_SHAPES: readonly RegExp[] = [
  /^(AKIA|ASIA)[A-Z0-9]{16}$/,
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/,
  /^(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})$/,
  /^xox[abprs]-[A-Za-z0-9-]{10,}$/,
  /^(sk|rk)_live_[A-Za-z0-9]{16,}$/,
  /^AIza[0-9A-Za-z_-]{35}$/,
  /^npm_[A-Za-z0-9]{36}$/,
  /^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$/,
];

function highEntropyToken(value: string): boolean {
  if (value.length < 32 || value.length > 4096 || !/^[A-Za-z0-9+/=_-]+$/.test(value)) return false;
  if (!/[A-Z]/.test(value) || !/[a-z]/.test(value) || !/[0-9].*[0-9]/.test(value)) return false;
  // Words (a long class name, `ProcessCustomerOrders2026`) have long lower-case runs; random text rarely does.
  if (/[a-z]{7}/.test(value)) return false;
  const counts = new Map<string, number>();
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    bits -= p * Math.log2(p);
  }
  return bits >= 4;
}

/** What a masked value is shown as. */
export const MASKED = "***";

/**
 * A copy of `value` with every string that {@link looksLikeCredential} replaced
 * by {@link MASKED}, and every value under a credential-looking key (`apiToken`,
 * `password`) too, for callers who may read but not hold secrets.
 */
export function maskCredentials(value: unknown, key?: string): unknown {
  if (key !== undefined && isCredentialName(key) && value !== null && value !== undefined)
    return MASKED;
  if (typeof value === "string") return looksLikeCredential(value) ? MASKED : value;
  if (Array.isArray(value)) return value.map((v) => maskCredentials(v));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskCredentials(v, k)]));
  }
  return value;
}

/** True for a name that says its value is a secret (`apiToken`, `db_password`). */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}

/** {@link CREDENTIAL_KEY} without a bare "auth" (an `author` parameter is no secret). */
const CREDENTIAL_NAME =
  /secret|password|passwd|token|credential|private.?key|api.?key|access.?key|session.?key/i;
