// Calls the API app in process (`app.request`, no socket) on a real store, and
// checks error answers the one way every route gives them.
import assert from "node:assert/strict";
import type { Hono } from "hono";
import type { Logger } from "../../../src/core/reporter.ts";
import { type ApiAppOptions, createApp } from "../../../src/server/api/app.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";

/** An answer: status and parsed JSON body. */
export interface Answer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field
  readonly body: any;
}

/** The app plus a small request helper. */
export interface TestApi {
  readonly app: Hono;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
}

/** A logger that keeps its lines. */
export function keepingLogger(): Logger & {
  lines: { level: string; message: string; fields?: unknown }[];
} {
  const lines: { level: string; message: string; fields?: unknown }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, fields });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** An app on `store` (open on loopback unless `auth` says otherwise). */
export function testApi(store: ServerDb, options: Partial<ApiAppOptions> = {}): TestApi {
  const app = createApp({ db: store, auth: { allowOpen: true }, ...options });
  return {
    app,
    async call(method, path, body, headers = {}) {
      const res = await app.request(path, {
        method,
        headers: { "content-type": "application/json", ...headers },
        ...(body === undefined
          ? {}
          : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === "" ? undefined : JSON.parse(text);
      } catch {
        assert.fail(
          `${method} ${path} answered ${res.status} with a body that is not JSON: ${text}`,
        );
      }
      return { status: res.status, body: parsed };
    },
  };
}

/** Asserts an error answer: status, code, and words its message must contain. */
export function assertError(
  answer: Answer,
  status: number,
  code: string,
  says: readonly (string | RegExp)[] = [],
): string {
  const context = JSON.stringify(answer.body);
  assert.equal(answer.status, status, `status: ${context}`);
  assert.equal(answer.body?.error?.code, code, `code: ${context}`);
  const message = answer.body.error.message as string;
  assert.equal(typeof message, "string");
  for (const part of says) {
    if (typeof part === "string")
      assert.ok(message.includes(part), `${message}\nshould say ${part}`);
    else assert.match(message, part);
  }
  assert.deepEqual(
    Object.keys(answer.body).sort(),
    ["error"],
    `an error body holds only { error }: ${context}`,
  );
  return message;
}
