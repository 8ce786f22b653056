// The API fuzzed on every route of its OpenAPI document, on SQLite and PostgreSQL
// (issue #13): a bounded, deterministic table of malformed inputs (wrong JSON
// types, missing and extra fields, long strings, NUL bytes, numbers out of range,
// unknown ids, bad cursors, non-object and deeply nested bodies) plus a few
// seeded random ones. No answer may be a 5xx, and every 4xx carries the API's
// JSON error body. A failure lists the route and the input that failed; the
// seed is printed, and WEFT_FUZZ_SEED=<n> replays another one.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import type { Hono } from "hono";
import { z } from "zod";
import { createApp } from "../../../src/server/api/app.ts";
import { apiRoutes } from "../../../src/server/api/routes.ts";
import { serializedFlow, st } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { keepingLogger, testApi } from "./api-fixtures.ts";

const SEED = Number(process.env.WEFT_FUZZ_SEED ?? 13);

/** A small deterministic generator (mulberry32), so a failure replays from its seed. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One request of the table: what it is (for the failure report) and what is sent. */
interface Probe {
  readonly label: string;
  readonly path: string;
  readonly query?: Record<string, string>;
  /** Raw body text; absent sends none. */
  readonly body?: string;
}

const KB20 = "a".repeat(20 * 1024);
const MB1 = "b".repeat(1024 * 1024);
const DEEP = 200;

/** `{"a":{"a":…}}` nested `depth` levels (another item refuses depth over a limit with 400). */
function nested(depth: number): Json {
  let value: Json = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

function cursorOf(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString(
    "base64url",
  );
}

/** Cursors that are not a previous page's: garbage, wrong shapes, values a database refuses. */
const BAD_CURSORS = [
  "!!!",
  "\u0000",
  "a".repeat(600),
  cursorOf("not json"),
  cursorOf([]),
  cursorOf({}),
  cursorOf([1e308]),
  cursorOf([-1]),
  cursorOf([1.5]),
  cursorOf([2 ** 31]),
  cursorOf([2 ** 53 + 2]),
  cursorOf(["\u0000", "x"]),
  cursorOf(["2026-01-01T00:00:00.000Z", "\u0000"]),
  cursorOf(["x", 2 ** 31, "y"]),
  cursorOf(["x", -1, "y"]),
  cursorOf(["x", 1e308, "y"]),
  cursorOf(["\u0000", 1, "y"]),
  cursorOf([KB20, 1, "y"]),
  cursorOf(["not a time", "id"]),
];

/** Values a number field gets instead of its own. */
const BAD_NUMBERS: Json[] = [-1, 2 ** 31, 2 ** 53 + 1, 1e308, -1e308, 1.5, "NaN", "1", null, {}];
/** Values a string field gets instead of its own. */
const BAD_STRINGS = (s: string): Json[] => [
  42,
  null,
  true,
  [],
  {},
  "",
  "\u0000",
  `${s}\u0000`,
  "\ud800",
  "😀".repeat(700),
  KB20,
  MB1,
];
/** Values a query parameter gets. */
const BAD_QUERY_VALUES = [
  "\u0000",
  "x\u0000",
  "",
  KB20,
  "-1",
  "0",
  "2147483648",
  "9007199254740993",
  "1e308",
  "NaN",
  "Infinity",
  "0x10",
  "😀".repeat(700),
];
/** Values a path parameter gets: unknown, NUL, long, odd. */
const BAD_IDS = [
  randomUUID(),
  "\u0000",
  "x\u0000y",
  "a".repeat(300),
  KB20,
  "..",
  "😀".repeat(700),
  "%",
  " ",
];

/** Every (path, value) leaf and inner node of a JSON value, depth first. */
function* nodes(
  value: Json,
  path: (string | number)[] = [],
): Generator<[(string | number)[], Json]> {
  yield [path, value];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* nodes(value[i]!, [...path, i]);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) yield* nodes(v, [...path, k]);
  }
}

/** `root` with the node at `path` replaced (or deleted when `replacement` is undefined). */
function replaced(root: Json, path: (string | number)[], replacement: Json | undefined): Json {
  if (path.length === 0) return replacement ?? null;
  const copy = structuredClone(root) as Record<string | number, Json>;
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (replacement !== undefined) parent[last] = replacement;
  else if (Array.isArray(parent)) parent.splice(last as number, 1);
  else delete parent[last];
  return copy;
}

function shown(value: Json | undefined): string {
  if (value === undefined) return "(deleted)";
  const text = JSON.stringify(value);
  if (text.length <= 60) return text;
  return `${text.slice(0, 40)}… (${text.length} chars)`;
}

function pointer(path: (string | number)[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("") || "(body)";
}

/** The malformed bodies made from a valid one. */
function* bodyProbes(base: Json, random: () => number): Generator<[string, string]> {
  for (const raw of ["", "[]", '"text"', "null", "42", "{", "[[[", "{}"])
    yield [`body ${raw || "(empty)"}`, raw];
  yield [`body nested ${DEEP} deep`, JSON.stringify(nested(DEEP))];
  let arrays = "1";
  for (let i = 0; i < DEEP; i++) arrays = `[${arrays}]`;
  yield [`body arrays nested ${DEEP} deep`, arrays];
  const all = [...nodes(base)];
  for (const [path, value] of all) {
    const mutations: (Json | undefined)[] = [];
    if (typeof value === "string") mutations.push(...BAD_STRINGS(value));
    else if (typeof value === "number") mutations.push(...BAD_NUMBERS);
    else if (typeof value === "boolean") mutations.push("true", 1, null);
    else if (Array.isArray(value)) mutations.push({}, "x", [null], nested(DEEP));
    else if (value !== null && typeof value === "object")
      mutations.push([], "x", null, { ...value, extraField: 1 }, { ...value, deep: nested(DEEP) });
    if (path.length > 0) mutations.push(undefined);
    for (const m of mutations)
      yield [`body${pointer(path)} = ${shown(m)}`, JSON.stringify(replaced(base, path, m))];
  }
  // Seeded random: a random node gets a random string of odd characters.
  for (let i = 0; i < 20; i++) {
    const [path] = all[Math.floor(random() * all.length)]!;
    if (path.length === 0) continue;
    const length = Math.floor(random() * 300);
    let junk = "";
    for (let j = 0; j < length; j++) junk += String.fromCharCode(Math.floor(random() * 0xffff));
    yield [
      `body${pointer(path)} = random ${shown(junk)}`,
      JSON.stringify(replaced(base, path, junk)),
    ];
  }
}

/** The text of a stream's first event, read before the stream is cancelled. */
async function firstEvent(res: Response): Promise<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel();
  }
  return JSON.stringify({ stream: text });
}

/** What a 2xx of an event stream must be: its first event is `ready`. */
const eventStreamAnswer = z.strictObject({
  stream: z.string().regex(/^event: ready\ndata: \{"reason":"connected"\}\n\n/),
});

forEachDialect("api fuzz", (ctx) => {
  test("every route of the OpenAPI document answers malformed input with a 4xx JSON error, never a 5xx", {
    timeout: 180_000,
  }, async (t) => {
    const store = await ctx.open();
    const logger = keepingLogger();
    const { secret } = await store.tokens.create({
      name: `fuzz-${randomUUID()}`,
      scopes: ["admin"],
    });
    const app: Hono = createApp({ db: store, auth: { allowOpen: false }, logger, claimPollMs: 50 });
    const random = generator(SEED);
    t.diagnostic(`seed ${SEED} (WEFT_FUZZ_SEED replays another)`);

    let unique = 0;
    const send = async (method: string, probe: Probe) => {
      const query = probe.query ? `?${new URLSearchParams(probe.query)}` : "";
      const res = await app.request(`${probe.path}${query}`, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
        ...(probe.body === undefined
          ? {}
          : { body: probe.body.replaceAll("UNIQUE", () => String(unique++)) }),
      });
      // An event stream's answer is its first event (`ready`); then the stream is closed.
      const text = res.headers.get("content-type")?.startsWith("text/event-stream")
        ? await firstEvent(res)
        : await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, body, text };
    };

    // What the seeds refer to.
    const flow = serializedFlow({
      parameters: [
        { name: "x", default: 1, required: false, type: "number", validated: false },
        { name: "text", default: "d", required: false, type: "string", validated: false },
      ],
      description: "d",
      labels: ["fuzz"],
      schedule: { schemaVersion: 1, type: "interval", every: 60_000 },
      location: "flow.js#fuzz",
    });
    const registeredFlow = await send("POST", {
      label: "seed",
      path: "/api/flows",
      body: JSON.stringify({ flow }),
    });
    assert.equal(registeredFlow.status, 201, registeredFlow.text);
    const flowId = (registeredFlow.body as { flow: { id: string } }).flow.id;
    const run = await store.runs.create({ flowName: flow.name, labels: [], parameters: {} });
    const agent = await store.agents.register({
      name: `agent-${randomUUID()}`,
      labels: [],
      concurrency: 1,
    });
    const token = await store.tokens.create({ name: `victim-${randomUUID()}`, scopes: ["read"] });
    await store.limits.set("fuzz-delete", 1);
    // The id a path parameter gets, by the path's resource (`/api/<resource>/{id}…`).
    const ids: Record<string, string> = {
      flows: flowId,
      "flow-runs": run.run.id,
      agents: agent.id,
      tokens: token.token.id,
    };
    const now = new Date().toISOString();
    // A valid body and query per operation: each probe breaks one thing in it.
    const seeds: Record<string, { body?: Json; query?: Record<string, string> }> = {
      health: {},
      getSession: {},
      getDashboard: { query: { since: "2020-01-01T00:00:00.000Z", bucket: "day" } },
      ready: {},
      openapi: {},
      registerFlow: {
        body: {
          flow: serializedFlow({ ...flow, name: `flow-${randomUUID()}` }) as unknown as Json,
          versionGroup: `group-${randomUUID()}`,
        },
      },
      listFlows: { query: { name: flow.name, archived: "all", limit: "10" } },
      getFlow: {},
      createFlowRun: {
        body: {
          flowName: flow.name,
          name: "fuzzed",
          parameters: { x: 2, text: "t" },
          labels: ["fuzz"],
          // UNIQUE becomes a new value in every request, so no probe repeats an earlier run.
          idempotencyKey: "key-UNIQUE",
          scheduledStart: now,
        },
      },
      listFlowRuns: {
        query: {
          flowName: flow.name,
          state: "Scheduled,Running",
          agentId: agent.id,
          since: "2020-01-01T00:00:00.000Z",
          until: "2100-01-01T00:00:00.000Z",
          labels: "fuzz",
          limit: "5",
        },
      },
      getFlowRun: {},
      cancelFlowRun: {},
      setFlowRunState: {
        body: { state: st("Pending", now, { message: "m" }) as unknown as Json, version: 1 },
      },
      heartbeatFlowRun: {},
      listLogs: { query: { limit: "10" } },
      resumeFlowRun: { body: { approve: ["inc-1"] } },
      setTaskRunStates: {
        body: {
          states: [
            {
              flowRunId: run.run.id,
              slug: "inc-1",
              mapIndex: 0,
              state: st("Running", now, {
                attempts: 1,
                message: "m",
                error: { type: "Error", message: "boom", stack: "s" },
                result: { text: "t", list: [1, "two"] },
              }) as unknown as Json,
              version: 0,
              claim: 1,
              resultRef: "r",
            },
          ],
        },
      },
      ingestLogs: {
        body: {
          logs: [
            {
              level: "info",
              message: "m",
              time: Date.now(),
              flowRunId: run.run.id,
              taskSlug: "inc-1",
              mapIndex: 0,
              fields: { a: 1 },
            },
          ],
        },
      },
      registerAgent: { body: { name: `agent-${randomUUID()}`, labels: ["l"], concurrency: 2 } },
      listAgents: {},
      getAgent: {},
      heartbeatAgent: {},
      writeRuns: {
        body: {
          writes: [
            {
              kind: "logs",
              logs: [{ level: "info", message: "m", time: Date.now(), flowRunId: run.run.id }],
            },
          ],
        },
      },
      claimFlowRuns: { body: { limit: 1, waitMs: 0 } },
      listTokens: {},
      createToken: { body: { name: `token-${randomUUID()}`, scopes: ["read"] } },
      revokeToken: {},
      listConcurrencyLimits: {},
      setConcurrencyLimit: { body: { tag: "fuzz", limit: 2 } },
      deleteConcurrencyLimit: { body: { tag: "fuzz-delete" } },
      acquireTaskSlots: { body: { slug: "inc-1", mapIndex: 0, tags: ["fuzz"], waitMs: 0 } },
      releaseTaskSlots: { body: { slug: "inc-1", mapIndex: 0 } },
      followEvents: {},
      followFlowRun: {},
    };

    const openapi = await send("GET", { label: "openapi", path: "/api/openapi.json" });
    const paths = (openapi.body as { paths: Record<string, Record<string, OpenApiOperation>> })
      .paths;
    interface OpenApiOperation {
      operationId: string;
      parameters?: { name: string; in: string }[];
      requestBody?: unknown;
    }

    const failures: string[] = [];
    let sent = 0;
    const started = Date.now();
    // Each route's answer schema (the client parses answers with it): a 2xx must match it.
    const answers = new Map(
      apiRoutes({ db: store, openapi: () => ({}) }).map((r) => [
        r.operationId,
        r.kind === "events" ? eventStreamAnswer : r.response,
      ]),
    );
    /** Sends a probe and records what is wrong with its answer. */
    const judged = async (method: string, docPath: string, operationId: string, probe: Probe) => {
      const before = logger.lines.length;
      const answer = await send(method.toUpperCase(), probe);
      sent++;
      const where = `${method.toUpperCase()} ${docPath} ${probe.label}`;
      const logged = logger.lines
        .slice(before)
        .filter((l) => l.level === "error")
        .map((l) => JSON.stringify(l.fields).slice(0, 300))
        .join(" | ");
      if (answer.status >= 500)
        failures.push(`${where}: ${answer.status} ${answer.text.slice(0, 200)} ${logged}`);
      else if (answer.status >= 400) {
        const error = (answer.body as { error?: { code?: unknown; message?: unknown } })?.error;
        if (typeof error?.code !== "string" || typeof error.message !== "string")
          failures.push(
            `${where}: ${answer.status} without a JSON error body: ${answer.text.slice(0, 200)}`,
          );
      } else if (answer.body === undefined)
        failures.push(`${where}: ${answer.status} with a body that is not JSON`);
      else {
        const parsed = answers.get(operationId)?.safeParse(answer.body);
        if (parsed?.success === false)
          failures.push(
            `${where}: the answer does not match its schema: ${parsed.error.message.slice(0, 300)}`,
          );
      }
      return answer;
    };
    for (const [docPath, operations] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const seed = seeds[operation.operationId];
        assert.ok(seed, `the fuzz test has no seed for ${operation.operationId}: add one`);
        const pathParams = (operation.parameters ?? []).filter((p) => p.in === "path");
        const queryParams = (operation.parameters ?? []).filter((p) => p.in === "query");
        const validPath = docPath.replace("{id}", ids[docPath.split("/")[2]!] ?? "{id}");
        const validBody = seed.body === undefined ? undefined : JSON.stringify(seed.body);
        const probes: Probe[] = [
          {
            label: "the seed itself",
            path: validPath,
            ...(seed.query ? { query: seed.query } : {}),
            ...(validBody === undefined ? {} : { body: validBody }),
          },
        ];
        const withBody = (p: Omit<Probe, "body">): Probe =>
          validBody === undefined ? p : { ...p, body: validBody };
        for (const param of pathParams)
          for (const bad of BAD_IDS)
            probes.push(
              withBody({
                label: `path ${param.name} = ${shown(bad)}`,
                path: docPath.replace(`{${param.name}}`, encodeURIComponent(bad)),
              }),
            );
        const queryNames = [...queryParams.map((p) => p.name), "unknownParam"];
        for (const name of queryNames) {
          const values =
            name === "cursor" ? [...BAD_QUERY_VALUES, ...BAD_CURSORS] : BAD_QUERY_VALUES;
          for (const bad of values)
            probes.push(
              withBody({
                label: `query ${name} = ${shown(bad)}`,
                path: validPath,
                query: { ...seed.query, [name]: bad },
              }),
            );
        }
        if (operation.requestBody !== undefined && seed.body !== undefined)
          for (const [label, body] of bodyProbes(seed.body, random))
            probes.push({
              label,
              path: validPath,
              ...(seed.query ? { query: seed.query } : {}),
              body,
            });

        for (const probe of probes) {
          const answer = await judged(method, docPath, operation.operationId, probe);
          if (probe.label === "the seed itself" && answer.status >= 400 && answer.status !== 409)
            failures.push(
              `${method.toUpperCase()} ${docPath}: the seed is refused (${answer.text.slice(0, 200)}): fix the seed`,
            );
        }
      }
    }

    // Afterwards, whatever the probes stored must still read back and claim on both dialects
    // (a label PostgreSQL's JSON cannot parse once broke every claim): every page of every list.
    const lists: [string, string, string][] = [
      ["listFlows", "/api/flows", "archived=all&limit=500"],
      ["listFlowRuns", "/api/flow-runs", "limit=500"],
      ["listLogs", `/api/flow-runs/${run.run.id}/logs`, "limit=5000"],
    ];
    for (const [operationId, path, first] of lists) {
      let cursor: string | undefined;
      let pages = 0;
      do {
        const query = Object.fromEntries(new URLSearchParams(first));
        if (cursor !== undefined) query.cursor = cursor;
        const answer = await judged("get", path, operationId, {
          label: `page ${pages}`,
          path,
          query,
        });
        if (answer.status !== 200) {
          failures.push(
            `GET ${path} page ${pages} afterwards: ${answer.status} ${answer.text.slice(0, 300)}`,
          );
          break;
        }
        cursor = (answer.body as { nextCursor?: string }).nextCursor;
        pages++;
      } while (cursor !== undefined && pages < 100);
    }
    for (const [operationId, path] of [
      ["listAgents", "/api/agents"],
      ["listTokens", "/api/tokens"],
      ["getFlowRun", `/api/flow-runs/${run.run.id}`],
    ] as const) {
      const answer = await judged("get", path, operationId, { label: "afterwards", path });
      if (answer.status !== 200)
        failures.push(`GET ${path} afterwards: ${answer.status} ${answer.text.slice(0, 300)}`);
    }
    const claimer = await store.agents.register({
      name: `claimer-${randomUUID()}`,
      labels: ["fuzz", "l"],
      concurrency: 100,
    });
    const claimPath = `/api/agents/${claimer.id}/claim`;
    const claimed = await judged("post", claimPath, "claimFlowRuns", {
      label: "afterwards",
      path: claimPath,
      body: JSON.stringify({ limit: 100 }),
    });
    if (claimed.status !== 200)
      failures.push(
        `POST ${claimPath} afterwards: ${claimed.status} ${claimed.text.slice(0, 300)}`,
      );
    t.diagnostic(`${sent} requests in ${Date.now() - started} ms`);
    assert.ok(
      failures.length === 0,
      `${failures.length} of ${sent} probes failed (seed ${SEED}):\n${failures.join("\n")}`,
    );
  });

  /** A store, an app needing a token, the token's header, a registered flow and a run. */
  async function authorizedApi() {
    const store = await ctx.open();
    const { secret } = await store.tokens.create({ name: `t-${randomUUID()}`, scopes: ["admin"] });
    const api = testApi(store, { auth: { allowOpen: false } });
    const auth = { authorization: `Bearer ${secret}` };
    const flow = serializedFlow();
    assert.equal((await api.call("POST", "/api/flows", { flow }, auth)).status, 201);
    const run = await store.runs.create({ flowName: flow.name, labels: [], parameters: {} });
    return { api, auth, flow, runId: run.run.id };
  }

  // The table above nests 200 deep; item 9 refuses depth over its limit before parsing.
  test("5,000-deep JSON in a free-JSON field (parameters, a result, log fields) is a 4xx", async () => {
    const { api, auth, flow, runId } = await authorizedApi();
    let deep = "1";
    for (let i = 0; i < 5000; i++) deep = `{"a":${deep}}`;
    const state = JSON.stringify(st("Running")).replace(/}$/, `,"result":${deep}}`);
    const probes: [string, string, string][] = [
      ["parameters", "/api/flow-runs", `{"flowName":"${flow.name}","parameters":{"x":${deep}}}`],
      [
        "a result",
        "/api/task-run-states",
        `{"states":[{"flowRunId":"${runId}","slug":"inc-1","version":0,"state":${state}}]}`,
      ],
      [
        "log fields",
        "/api/logs",
        `{"logs":[{"level":"info","message":"m","time":1,"flowRunId":"${runId}","fields":{"x":${deep}}}]}`,
      ],
    ];
    const wrong: string[] = [];
    for (const [what, path, body] of probes) {
      const answer = await api.call("POST", path, body, auth);
      if (answer.status < 400 || answer.status >= 500)
        wrong.push(`5,000-deep JSON in ${what}: ${answer.status}`);
    }
    assert.deepEqual(wrong, []);
  });

  test("a scheduled start out of 1970–9999 is refused", async () => {
    const { api, auth, flow } = await authorizedApi();
    const wrong: string[] = [];
    for (const at of ["9999-12-31T23:00:00-05:00", "1969-12-31T23:59:59Z"]) {
      const body = { flowName: flow.name, scheduledStart: at };
      const answer = await api.call("POST", "/api/flow-runs", body, auth);
      if (answer.status !== 400) wrong.push(`scheduledStart ${at}: ${answer.status}`);
    }
    assert.deepEqual(wrong, []);
  });
});
