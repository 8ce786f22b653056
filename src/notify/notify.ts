// Notifications as state handlers: `notify.webhook(url, { on })` POSTs a JSON
// description of a state change to a URL, `notify.slack("env:SLACK_WEBHOOK_URL")`
// posts Slack's incoming-webhook message (`{ text }`). Both are plain
// StateHandlers (core/state-handlers.ts), given to a task or a flow as
// `onStateChange: [notify.slack(...)]`, so they run where the walk runs.
//
// Secrets are never written in code: a URL that carries one (a password, a
// signed query) and a literal value under a secret-looking header name
// (Authorization, X-Api-Key, …) or shaped like a key are refused when the
// handler is made, as serialized configuration is (serialization/credentials.ts);
// `env:NAME` references are read when a notification is sent. Slack webhook URLs
// are secrets themselves, so notify.slack takes only a reference.
//
// A notification never changes the state: it is retried (`retries`, each
// attempt bounded by `timeoutMs`), and one that still fails is a warning in the
// run's log (the subject's logger). The state change waits for it to end.
import { WeftError } from "../core/errors.ts";
import type { StateHandler, StateSubject } from "../core/state-handlers.ts";
import { isStateA, STATE_TYPES, type State, type StateType } from "../core/states.ts";
import {
  assertNoCredentials,
  isSecretReference,
  looksLikeCredential,
  resolveSecretReference,
} from "../serialization/credentials.ts";

/** Options of {@link notify}'s handlers. */
export interface NotifyOptions {
  /**
   * The state types that notify, each with its subtypes (`"Failed"` covers
   * TriggerFailed and TimedOut). @default ["Failed"]
   */
  on?: readonly StateType[];
  /** Attempts after the first failed one (an error, a timeout, a non-2xx answer). @default 2 */
  retries?: number;
  /** Milliseconds one attempt may take. @default 10000 */
  timeoutMs?: number;
  /** Milliseconds before the first retry, doubled for each next one. @default 500 */
  retryDelayMs?: number;
}

/** Options of {@link notify}.webhook. */
export interface WebhookOptions extends NotifyOptions {
  /**
   * Extra request headers. A secret is written as `"env:NAME"` (read when
   * sending); a literal value under a secret-looking name (Authorization,
   * X-Api-Key, …) or shaped like a key is refused. @default {}
   */
  headers?: Readonly<Record<string, string>>;
}

/** The JSON body notify.webhook posts. */
export interface WebhookPayload {
  readonly flow: string;
  readonly runId: string;
  /** The task's slug; null for the flow run's own state. */
  readonly task: string | null;
  readonly taskName: string | null;
  readonly mapIndex: number | null;
  readonly oldState: StateType;
  readonly newState: StateType;
  readonly message: string | null;
  /** When the new state was entered (ISO 8601, UTC). */
  readonly time: string;
}

/** Defaults of {@link NotifyOptions}. */
const DEFAULTS = { retries: 2, timeoutMs: 10_000, retryDelayMs: 500 } as const;

/**
 * State handlers that send notifications.
 * @example
 * const load = task("load", loadRows, {
 *   onStateChange: [
 *     notify.slack("env:SLACK_WEBHOOK_URL", { on: ["Failed"] }),
 *     notify.webhook("https://ops.example.com/hooks/weft", {
 *       on: ["Failed", "Success"],
 *       headers: { Authorization: "env:OPS_HOOK_TOKEN" },
 *     }),
 *   ],
 * });
 */
export const notify = {
  /** POSTs a {@link WebhookPayload} to `url` (or `"env:NAME"` naming it) on the states in `on`. */
  webhook(url: string, options: WebhookOptions = {}): StateHandler {
    const settings = checkOptions("notify.webhook", options);
    const headers = { ...(options.headers ?? {}) };
    checkTarget("notify.webhook", url, headers);
    const handler: StateHandler = (subject, oldState, newState) => {
      if (!matches(settings.on, newState)) return undefined;
      const body: WebhookPayload = payload(subject, oldState, newState);
      return send("webhook", url, headers, JSON.stringify(body), settings, subject);
    };
    return named(handler, "notifyWebhook");
  },

  /** Posts a one-line Slack message (incoming webhook) on the states in `on`. */
  slack(webhookEnv: string, options: NotifyOptions = {}): StateHandler {
    const settings = checkOptions("notify.slack", options);
    if (typeof webhookEnv !== "string" || !isSecretReference(webhookEnv)) {
      throw new WeftError(
        "CREDENTIAL_IN_CONFIG",
        "notify.slack takes the webhook URL as an env:NAME reference: a Slack webhook URL is a secret",
        {
          hint: 'write notify.slack("env:SLACK_WEBHOOK_URL") and set SLACK_WEBHOOK_URL where the flow runs',
        },
      );
    }
    const handler: StateHandler = (subject, oldState, newState) => {
      if (!matches(settings.on, newState)) return undefined;
      const text = slackText(payload(subject, oldState, newState));
      return send("Slack webhook", webhookEnv, {}, JSON.stringify({ text }), settings, subject);
    };
    return named(handler, "notifySlack");
  },
};

interface Settings {
  readonly on: readonly StateType[];
  readonly retries: number;
  readonly timeoutMs: number;
  readonly retryDelayMs: number;
}

function checkOptions(what: string, options: NotifyOptions): Settings {
  const on = options.on ?? ["Failed"];
  const bad = (field: string, expected: string, got: unknown) =>
    new WeftError(
      "INVALID_TASK_OPTIONS",
      `${what}: option ${field}: expected ${expected} (got ${JSON.stringify(got)})`,
    );
  if (!Array.isArray(on) || on.length === 0 || on.some((t) => !STATE_TYPES.includes(t)))
    throw bad("on", `a non-empty list of state types (${STATE_TYPES.join(", ")})`, on);
  const count = (field: keyof NotifyOptions, fallback: number, min: number) => {
    const value = options[field] ?? fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min)
      throw bad(field, `an integer ≥ ${min}`, value);
    return value;
  };
  return {
    on,
    retries: count("retries", DEFAULTS.retries, 0),
    timeoutMs: count("timeoutMs", DEFAULTS.timeoutMs, 1),
    retryDelayMs: count("retryDelayMs", DEFAULTS.retryDelayMs, 0),
  };
}

/** Refuses a URL or headers that hold a secret as a literal (the error names the field, never the value). */
function checkTarget(what: string, url: string, headers: Record<string, string>): void {
  if (typeof url !== "string" || url === "") {
    throw new WeftError("INVALID_TASK_OPTIONS", `${what}: expected a URL or an env:NAME reference`);
  }
  if (!isSecretReference(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new WeftError("INVALID_TASK_OPTIONS", `${what}: ${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new WeftError(
        "INVALID_TASK_OPTIONS",
        `${what}: the URL must be http or https (got ${parsed.protocol})`,
      );
    }
  }
  assertNoCredentials({ url, headers }, what);
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== "string") {
      throw new WeftError("INVALID_TASK_OPTIONS", `${what}: header ${name} must be a string`);
    }
    if (!isSecretReference(value) && value.split(/\s+/).some(looksLikeCredential)) {
      throw new WeftError(
        "CREDENTIAL_IN_CONFIG",
        `${what}: header ${name} looks like a credential; code may only name where a secret comes from`,
        { hint: `write "env:NAME" and set the environment variable NAME where the flow runs` },
      );
    }
  }
}

function matches(on: readonly StateType[], state: State): boolean {
  for (const type of on) if (isStateA(state.type, type)) return true;
  return false;
}

function payload(subject: StateSubject, oldState: State, newState: State): WebhookPayload {
  return {
    flow: subject.flowName,
    runId: subject.flowRunId,
    task: subject.taskSlug ?? null,
    taskName: subject.taskName ?? null,
    mapIndex: subject.mapIndex ?? null,
    oldState: oldState.type,
    newState: newState.type,
    message: newState.message ?? null,
    time: new Date(newState.timestamp).toISOString(),
  };
}

function slackText(p: WebhookPayload): string {
  const who =
    p.task === null
      ? `flow run of ${p.flow}`
      : `task ${p.task}${p.mapIndex === null ? "" : `[${p.mapIndex}]`} of ${p.flow}`;
  return `weft: ${who} is ${p.newState}${p.message === null ? "" : `: ${p.message}`} (run ${p.runId})`;
}

/** POSTs `body`, retrying; never throws: a notification that fails is a warning. */
async function send(
  kind: string,
  target: string,
  headers: Record<string, string>,
  body: string,
  settings: Settings,
  subject: StateSubject,
): Promise<undefined> {
  const warn = (why: string) => subject.logger.warn(`${kind} notification not sent: ${why}`);
  let url: string;
  const resolved: Record<string, string> = { "content-type": "application/json" };
  try {
    url = reference(target);
    for (const [name, value] of Object.entries(headers)) resolved[name] = reference(value);
  } catch (error) {
    warn((error as Error).message);
    return undefined;
  }
  // Never the URL itself in a message: its path may be the secret (Slack's is).
  let shown = kind;
  try {
    shown = `${kind} to ${new URL(url).host}`;
  } catch {
    warn(`${isSecretReference(target) ? target : "its URL"} is not a URL`);
    return undefined;
  }
  let last = "";
  for (let attempt = 0; attempt <= settings.retries; attempt++) {
    if (attempt > 0) await sleep(settings.retryDelayMs * 2 ** (attempt - 1));
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: resolved,
        body,
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
      await response.body?.cancel();
      if (response.ok) return undefined;
      last = `answered ${response.status}`;
    } catch (error) {
      last =
        (error as Error).name === "TimeoutError"
          ? `no answer within ${settings.timeoutMs} ms`
          : (error as Error).message;
    }
  }
  subject.logger.warn(
    `${shown} notification not sent after ${settings.retries + 1} attempts: ${last}`,
  );
  return undefined;
}

/** A value, or the environment variable an `env:NAME` reference names (read now). */
function reference(value: string): string {
  if (!isSecretReference(value)) return value;
  const found = resolveSecretReference(value);
  if (found === undefined || found === "") throw new Error(`${value} is not set`);
  return found;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function named(handler: StateHandler, name: string): StateHandler {
  return Object.defineProperty(handler, "name", { value: name });
}
