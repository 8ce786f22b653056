// What the API answers when its store fails: 503 for a database it cannot use,
// a generic 500 (logged, nothing internal leaked) for anything unexpected; and
// the server keeps serving.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { forEachDialect } from "../dialects.ts";
import { assertError, keepingLogger, testApi } from "./api-fixtures.ts";

/** The real database, except that one repository method throws `error` once (a fault, injected). */
function failingOnce<K extends "flows" | "runs" | "taskRuns" | "logs" | "agents" | "tokens">(
  store: ServerDb,
  repository: K,
  method: keyof ServerDb[K],
  error: unknown,
): ServerDb {
  let armed = true;
  const failing = new Proxy(store[repository], {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key !== method || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (armed) {
          armed = false;
          return Promise.reject(error);
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return new Proxy(store, {
    get(target, key, receiver) {
      return key === repository ? failing : Reflect.get(target, key, receiver);
    },
  });
}

forEachDialect("api failures", (ctx) => {
  test("an unexpected error is a generic 500, logged once, and the next request is served", async () => {
    const logger = keepingLogger();
    const store = failingOnce(
      await ctx.open(),
      "agents",
      "list",
      new Error("SELECT secret_column FROM internals"),
    );
    const api = testApi(store, { logger });
    const answer = await api.call("GET", "/api/agents");
    const message = assertError(answer, 500, "INTERNAL");
    assert.ok(!message.includes("secret_column"), "no internals reach the client");
    const errors = logger.lines.filter((l) => l.level === "error");
    assert.equal(errors.length, 1);
    assert.match(JSON.stringify(errors[0]!.fields), /secret_column/, "the log has the details");
    assert.equal((await api.call("GET", "/api/agents")).status, 200);
  });

  test("a database the store cannot use is 503 DATABASE_UNAVAILABLE; readiness says so", async () => {
    const store = await ctx.open();
    const api = testApi(store);
    assert.equal((await api.call("GET", "/api/ready")).status, 200);
    await store.close();
    assertError(await api.call("GET", "/api/flow-runs"), 503, "DATABASE_UNAVAILABLE");
    assertError(await api.call("GET", "/api/ready"), 503, "DATABASE_UNAVAILABLE");
    assert.equal((await api.call("GET", "/api/health")).status, 200, "liveness still answers");
  });
});
