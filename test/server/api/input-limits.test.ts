// One table of inputs at and over the API's limits (README "Limits"), run through
// the real app on SQLite and on PostgreSQL: both dialects accept and refuse the
// same inputs (issue #13 item 10). PostgreSQL used to answer 500 to a NUL byte,
// a map index of 2^31, a 10 MB name and a forged cursor; SQLite stored them.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { before, test } from "node:test";
import { LIMITS } from "../../../src/serialization/limits.ts";
import { serializedFlow, st } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { type Answer, assertError, type TestApi, testApi } from "./api-fixtures.ts";

/** What a row refers to, made once per dialect. */
interface Fixture {
  readonly flowName: string;
  readonly runId: string;
  readonly agentId: string;
}

interface Row {
  readonly name: string;
  readonly method: "GET" | "POST";
  readonly path: (f: Fixture) => string;
  readonly body?: (f: Fixture) => unknown;
  /** A status below 400: accepted (and `check` looks at the answer); else the error's status, code and words. */
  readonly expect: number;
  readonly says?: readonly string[];
  readonly check?: (answer: Answer, api: TestApi, f: Fixture) => Promise<void>;
}

/** 3 bytes in UTF-8 per UTF-16 unit: the most bytes a string at a limit can take. */
const wide = (n: number) => "中".repeat(n);
const unique = () => randomUUID().slice(0, 8);
const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString("base64url");
const NUL = "\u0000";
const MAX_INT = 2 ** 31 - 1;

function taskWrite(f: Fixture, extra: Record<string, unknown> = {}, state = {}) {
  return {
    states: [
      {
        flowRunId: f.runId,
        slug: `t-${unique()}`,
        state: st("Running", new Date(), state),
        version: 0,
        ...extra,
      },
    ],
  };
}

const log = (f: Fixture, extra: Record<string, unknown> = {}) => ({
  logs: [{ level: "info", message: "m", time: Date.now(), flowRunId: f.runId, ...extra }],
});

const ROWS: Row[] = [
  // ── names, keys, labels: 256 characters, at 3 bytes each ──
  {
    name: "a flow name of 200 wide characters and a version group of 256 are accepted",
    method: "POST",
    path: () => "/api/flows",
    body: () => ({
      flow: serializedFlow({ name: `${wide(191)} ${unique()}`, labels: [wide(256)] }),
      versionGroup: `${wide(247)}${unique()}`,
    }),
    expect: 201,
  },
  {
    // core's flow() refuses such a name (core/names.ts), so no flow is ever registered with one
    name: "a flow name of 201 characters, or with a control character, is refused",
    method: "POST",
    path: () => "/api/flows",
    body: () => ({ flow: serializedFlow({ name: `${wide(192)} ${unique()}` }) }),
    expect: 400,
    says: ["flow.name", "at most 200"],
  },
  {
    name: "a flow name with a line break is refused",
    method: "POST",
    path: () => "/api/flows",
    body: () => ({ flow: serializedFlow({ name: `two\nlines ${unique()}` }) }),
    expect: 400,
    says: ["flow.name", "control character"],
  },
  {
    name: "a flow name of 257 characters is refused",
    method: "POST",
    path: () => "/api/flows",
    body: () => ({ flow: serializedFlow({ name: wide(257) }) }),
    expect: 400,
    says: ["flow.name", "at most 256"],
  },
  {
    name: "a flow name of 10 MB is refused (PostgreSQL's index row limit)",
    method: "POST",
    path: () => "/api/flows",
    body: () => ({ flow: serializedFlow({ name: "n".repeat(10 * 1000 * 1000) }) }),
    expect: 400,
    says: ["flow.name", "at most 256"],
  },
  {
    name: "a run's name, labels and idempotency key of 256 wide characters are accepted",
    method: "POST",
    path: () => "/api/flow-runs",
    body: (f) => ({
      flowName: f.flowName,
      name: wide(256),
      labels: [wide(256)],
      idempotencyKey: `${wide(248)}${unique()}`,
    }),
    expect: 201,
    check: async (answer) => {
      assert.equal(answer.body.run.name, wide(256));
      assert.equal(answer.body.run.idempotencyKey.length, 256);
    },
  },
  {
    name: "an idempotency key of 257 characters is refused",
    method: "POST",
    path: () => "/api/flow-runs",
    body: (f) => ({ flowName: f.flowName, idempotencyKey: wide(257) }),
    expect: 400,
    says: ["idempotencyKey"],
  },
  {
    name: "a label of 257 characters is refused",
    method: "POST",
    path: () => "/api/agents",
    body: () => ({ name: `a-${unique()}`, labels: [wide(257)] }),
    expect: 400,
    says: ["labels[0]"],
  },
  {
    name: "an agent name of 256 wide characters is accepted",
    method: "POST",
    path: () => "/api/agents",
    body: () => ({ name: `${wide(248)}${unique()}` }),
    expect: 200,
  },
  {
    name: "a token name of 256 wide characters is accepted",
    method: "POST",
    path: () => "/api/tokens",
    body: () => ({ name: `${wide(248)}${unique()}`, scopes: ["read"] }),
    expect: 201,
  },
  {
    name: "a task slug of 257 characters is refused",
    method: "POST",
    path: () => "/api/task-run-states",
    body: (f) => taskWrite(f, { slug: wide(257) }),
    expect: 400,
    says: ["states[0].slug"],
  },

  // ── NUL (U+0000) and lone surrogates: refused in every string, body, query and path ──
  ...(
    [
      ["a flow name", () => ({ flow: serializedFlow({ name: `f${NUL}` }) }), "/api/flows"],
      ["a flow label", () => ({ flow: serializedFlow({ labels: [NUL] }) }), "/api/flows"],
      [
        "a flow location",
        () => ({ flow: serializedFlow({ location: `a${NUL}.js` }) }),
        "/api/flows",
      ],
      ["an agent name", () => ({ name: `a${NUL}` }), "/api/agents"],
      ["a token name", () => ({ name: `t${NUL}`, scopes: ["read"] }), "/api/tokens"],
      [
        "an idempotency key",
        (f: Fixture) => ({ flowName: f.flowName, idempotencyKey: `k${NUL}` }),
        "/api/flow-runs",
      ],
      ["a task slug", (f: Fixture) => taskWrite(f, { slug: `s${NUL}` }), "/api/task-run-states"],
      ["a log message", (f: Fixture) => log(f, { message: `m${NUL}` }), "/api/logs"],
      ["a log's run id", (f: Fixture) => log(f, { flowRunId: `${f.runId}${NUL}` }), "/api/logs"],
    ] as const
  ).map(
    ([what, body, path]): Row => ({
      name: `a NUL in ${what} is refused`,
      method: "POST",
      path: () => path,
      body: body as (f: Fixture) => unknown,
      expect: 400,
      says: ["NUL"],
    }),
  ),
  {
    name: "a lone surrogate in a label is refused (PostgreSQL's JSON cannot hold one)",
    method: "POST",
    path: () => "/api/agents",
    body: () => ({ name: `a-${unique()}`, labels: ["\ud800"] }),
    expect: 400,
    says: ["labels[0]", "lone surrogate"],
  },
  ...(
    [
      ["flows", (f: Fixture) => `/api/flows?name=${encodeURIComponent(`${f.flowName}${NUL}`)}`],
      ["flow-runs", () => `/api/flow-runs?flowName=x%00`],
      ["flow-runs", () => `/api/flow-runs?agentId=%00`],
      ["flow-runs", () => `/api/flow-runs?state=Running%00`],
    ] as const
  ).map(
    ([what, path]): Row => ({
      name: `a NUL in a query of ${what} is refused (${path({ flowName: "x" } as Fixture)})`,
      method: "GET",
      path,
      expect: 400,
      says: ["NUL"],
    }),
  ),
  ...(
    [
      ["GET", "/api/flows/%00"],
      ["GET", "/api/flow-runs/x%00y"],
      ["GET", "/api/flow-runs/%00/logs"],
      ["POST", "/api/flow-runs/%00/cancel"],
      ["POST", "/api/flow-runs/%00/heartbeat"],
      ["GET", "/api/agents/%00"],
      ["POST", "/api/agents/%00/heartbeat"],
      ["POST", "/api/tokens/%00/revoke"],
    ] as const
  ).map(
    ([method, path]): Row => ({
      name: `a NUL in a path id is refused: ${method} ${path}`,
      method,
      path: () => path,
      expect: 400,
      says: ["path parameter id", "NUL"],
    }),
  ),
  {
    name: "a path id of 257 characters is refused",
    method: "GET",
    path: () => `/api/flow-runs/${"x".repeat(257)}`,
    expect: 400,
    says: ["path parameter id", "at most 256"],
  },
  {
    name: "an unknown path id of 256 characters is 404",
    method: "GET",
    path: () => `/api/flow-runs/${"x".repeat(256)}`,
    expect: 404,
  },

  // ── integers: 0 .. 2^31 - 1 ──
  {
    name: "a map index of 2^31 - 1 is accepted",
    method: "POST",
    path: () => "/api/task-run-states",
    body: (f) => taskWrite(f, { mapIndex: MAX_INT }, { attempts: MAX_INT }),
    expect: 200,
  },
  ...(
    [
      ["mapIndex", "2^31", (f: Fixture) => taskWrite(f, { mapIndex: 2 ** 31 })],
      ["version", "2^31", (f: Fixture) => taskWrite(f, { version: 2 ** 31 })],
      ["claim", "2^31", (f: Fixture) => taskWrite(f, { claim: 2 ** 31 })],
      ["attempts", "2^31", (f: Fixture) => taskWrite(f, {}, { attempts: 2 ** 31 })],
      ["mapIndex", "2^53 + 1", (f: Fixture) => taskWrite(f, { mapIndex: 2 ** 53 + 1 })],
      ["mapIndex", "-1", (f: Fixture) => taskWrite(f, { mapIndex: -1 })],
    ] as const
  ).map(
    ([field, value, body]): Row => ({
      name: `a task write's ${field} of ${value} is refused`,
      method: "POST",
      path: () => "/api/task-run-states",
      body: body as (f: Fixture) => unknown,
      expect: 400,
      says: [field],
    }),
  ),
  {
    name: "a log's map index of 2^31 is refused",
    method: "POST",
    path: () => "/api/logs",
    body: (f) => log(f, { mapIndex: 2 ** 31 }),
    expect: 400,
    says: ["logs[0].mapIndex"],
  },
  {
    name: "a run state's version of 2^31 is refused",
    method: "POST",
    path: (f) => `/api/flow-runs/${f.runId}/state`,
    body: () => ({ state: st("Pending"), version: 2 ** 31 }),
    expect: 400,
    says: ["version"],
  },
  {
    name: "a page limit of 2^31 is refused",
    method: "GET",
    path: () => "/api/flow-runs?limit=2147483648",
    expect: 400,
    says: ["limit"],
  },

  // ── messages: up to 1 MiB (a flow-run process truncates errors to 64 KiB) ──
  {
    name: "a log message of 1 MiB is accepted",
    method: "POST",
    path: () => "/api/logs",
    body: (f) => log(f, { message: "m".repeat(LIMITS.message) }),
    expect: 200,
  },
  {
    name: "a log message of 1 MiB + 1 is refused",
    method: "POST",
    path: () => "/api/logs",
    body: (f) => log(f, { message: "m".repeat(LIMITS.message + 1) }),
    expect: 400,
    says: ["logs[0].message"],
  },
  {
    name: "an error message and stack of 64 KiB are accepted",
    method: "POST",
    path: () => "/api/task-run-states",
    body: (f) =>
      taskWrite(
        f,
        {},
        { error: { type: "Error", message: wide(64 * 1024), stack: wide(64 * 1024) } },
      ),
    expect: 200,
  },

  // ── cursors: only what a page answered ──
  ...(
    [
      ["/api/flows", "garbage", "!!!"],
      ["/api/flows", "a version of 2^31", cursorOf(["x", 2 ** 31, "y"])],
      ["/api/flows", "a version of 1e308", cursorOf(["x", 1e308, "y"])],
      ["/api/flows", "a NUL in the name", cursorOf([NUL, 1, "y"])],
      ["/api/flow-runs", "a NUL in the id", cursorOf(["2026-01-01T00:00:00.000Z", NUL])],
      ["/api/flow-runs", "the wrong shape", cursorOf([1, 2])],
      ["/api/flow-runs/RUN/logs", "a fraction", cursorOf([1.5])],
      ["/api/flow-runs/RUN/logs", "1e308", cursorOf([1e308])],
      ["/api/flow-runs/RUN/logs", "a negative id", cursorOf([-1])],
    ] as const
  ).map(
    ([path, what, cursor]): Row => ({
      name: `a cursor with ${what} is refused on ${path}`,
      method: "GET",
      path: (f) => `${path.replace("RUN", f.runId)}?cursor=${encodeURIComponent(cursor)}`,
      expect: 400,
      says: ["cursor"],
    }),
  ),

  // ── texts inside stored JSON (states, errors) and free JSON (parameters, results) take any
  // character: JSON escapes NUL and lone surrogates, and both dialects read them back ──
  {
    name: "a NUL and a lone surrogate in a task's error message are accepted and read back unchanged",
    method: "POST",
    path: () => "/api/task-run-states",
    body: (f) =>
      taskWrite(
        f,
        { slug: "odd-text" },
        { message: `m${NUL}`, error: { type: "Error", message: `a${NUL}b\ud800`, stack: NUL } },
      ),
    expect: 200,
    check: async (_answer, api, f) => {
      const run = await api.call("GET", `/api/flow-runs/${f.runId}`);
      const task = run.body.taskRuns.find((t: { slug: string }) => t.slug === "odd-text");
      assert.equal(task.state.message, `m${NUL}`);
      assert.equal(task.state.error.message, `a${NUL}b\ud800`);
    },
  },
  {
    name: "a NUL inside a parameter value is accepted and read back unchanged",
    method: "POST",
    path: () => "/api/flow-runs",
    body: (f) => ({ flowName: f.flowName, parameters: { text: `a${NUL}b` } }),
    expect: 201,
    check: async (answer, api) => {
      const run = await api.call("GET", `/api/flow-runs/${answer.body.run.id}`);
      assert.equal(run.body.parameters.text, `a${NUL}b`);
    },
  },
];

forEachDialect("api input limits", (ctx) => {
  let api: TestApi;
  let fixture: Fixture;
  before(async () => {
    // One row makes an API token, which closes an open server once the token cache (2 s)
    // expires; on a slow run that fell inside this suite. The open answer is kept for the suite.
    api = testApi(await ctx.open(), { auth: { allowOpen: true, cacheMs: 3_600_000 } });
    const flow = serializedFlow({
      parameters: [
        { name: "text", default: "d", required: false, type: "string", validated: false },
      ],
    });
    const registered = await api.call("POST", "/api/flows", { flow });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const run = await api.call("POST", "/api/flow-runs", { flowName: flow.name });
    assert.equal(run.status, 201, JSON.stringify(run.body));
    const agent = await api.call("POST", "/api/agents", { name: `agent-${randomUUID()}` });
    fixture = { flowName: flow.name, runId: run.body.run.id, agentId: agent.body.id };
  });

  for (const row of ROWS) {
    test(row.name, async () => {
      const answer = await api.call(row.method, row.path(fixture), row.body?.(fixture));
      if (row.expect < 400) {
        assert.equal(answer.status, row.expect, JSON.stringify(answer.body).slice(0, 500));
        await row.check?.(answer, api, fixture);
      } else {
        const code = row.expect === 404 ? "FLOW_RUN_NOT_FOUND" : "INVALID_REQUEST";
        assertError(answer, row.expect, code, row.says ?? []);
      }
    });
  }
});
