// The request guard (issue 13, item 1): a web page cannot use an open loopback
// server. Browser "simple requests" (text/plain), foreign origins and rebound
// Host names are refused before auth and before anything is stored; the CLI's
// client and a page from the server's own origin still work. In process where
// the point is the app, on a real listening server where the point is the Host
// a real request carries.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createApiClient } from "../../../src/client/api-client.ts";
import { createApp } from "../../../src/server/api/app.ts";
import { type RunningServer, startServer } from "../../../src/server/server.ts";
import { runCli } from "../../support/cli.ts";
import { expectCode } from "../../support/expect-code.ts";
import { serializedFlow } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { type Answer, assertError, testApi } from "./api-fixtures.ts";
import { rawRequest } from "./raw-http.ts";

/** One in-process request with exactly these headers, at `url` (its host is the Host). */
async function send(
  app: { request(input: Request): Response | Promise<Response> },
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer & { headers: Headers }> {
  const res = await app.request(
    new Request(url, { method, headers, ...(body === undefined ? {} : { body }) }),
  );
  const text = await res.text();
  return {
    status: res.status,
    body: text === "" ? undefined : JSON.parse(text),
    headers: res.headers,
  };
}

const ATTACKER = "http://attacker.example";

forEachDialect("request guard (in process)", (ctx) => {
  test("a browser simple request (text/plain, form, multipart) is refused, and nothing is stored", async () => {
    const store = await ctx.open();
    const { app } = testApi(store);
    const flow = serializedFlow();
    const body = JSON.stringify({ flow });
    // What a page's <form> or fetch(no-cors) can send without a preflight: with its Origin…
    const refused = await send(
      app,
      "POST",
      "http://127.0.0.1:4200/api/flows",
      {
        "content-type": "text/plain",
        origin: ATTACKER,
      },
      body,
    );
    assertError(refused, 403, "ORIGIN_NOT_ALLOWED", ["http://attacker.example"]);
    // …and without one (an old browser, a stripped header): the content type alone refuses it.
    for (const type of [
      "text/plain",
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ]) {
      const answer = await send(
        app,
        "POST",
        "http://127.0.0.1:4200/api/flows",
        { "content-type": type },
        body,
      );
      const message = assertError(answer, 415, "UNSUPPORTED_MEDIA_TYPE", [
        "POST /api/flows",
        "application/json",
      ]);
      assert.ok(message.includes(JSON.stringify(type)), message);
    }
    // (bytes: a string body would get fetch's own text/plain)
    const none = await app.request(
      new Request("http://127.0.0.1:4200/api/flows", {
        method: "POST",
        body: new TextEncoder().encode(body),
      }),
    );
    assertError({ status: none.status, body: await none.json() }, 415, "UNSUPPORTED_MEDIA_TYPE", [
      "has none",
    ]);
    // An empty-body write needs it too: nothing can run a route without it.
    const { run } = await store.runs.create({
      flowId: (await store.flows.register(serializedFlow())).flow.id,
    });
    const cancel = await send(app, "POST", `http://127.0.0.1:4200/api/flow-runs/${run.id}/cancel`, {
      "content-type": "text/plain",
    });
    assertError(cancel, 415, "UNSUPPORTED_MEDIA_TYPE");
    assert.equal(
      (await store.runs.get(run.id)).state.type,
      "Scheduled",
      "the run was not cancelled",
    );

    const stored = await store.flows.list({ name: flow.name, archived: "all", limit: 10 });
    assert.deepEqual(stored.items, [], "no flow was registered");
    // The same body as JSON is served: the guard refused the request, not the flow.
    const ok = await send(
      app,
      "POST",
      "http://127.0.0.1:4200/api/flows",
      {
        "content-type": "application/json; charset=utf-8",
      },
      body,
    );
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const latin = await send(
      app,
      "POST",
      "http://127.0.0.1:4200/api/flows",
      {
        "content-type": "application/json; charset=latin1",
      },
      body,
    );
    assertError(latin, 415, "UNSUPPORTED_MEDIA_TYPE", ["latin1"]);
  });

  test("a foreign Origin is 403 on reads and writes, and its preflight gets no CORS headers", async () => {
    const { app } = testApi(await ctx.open());
    const url = "http://127.0.0.1:4200/api/flow-runs";
    for (const origin of [
      ATTACKER,
      "http://127.0.0.1:3000", // another local server: another origin
      "http://localhost:4200", // the same port by another name: another origin
      "null", // a sandboxed frame, a file:// page
    ]) {
      const read = await send(app, "GET", url, { origin });
      assertError(read, 403, "ORIGIN_NOT_ALLOWED", [JSON.stringify(origin)]);
      const write = await send(
        app,
        "POST",
        url,
        { origin, "content-type": "application/json" },
        "{}",
      );
      assertError(write, 403, "ORIGIN_NOT_ALLOWED");
      const preflight = await send(app, "OPTIONS", url, {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      });
      assert.equal(preflight.status, 403, origin);
      assert.equal(preflight.headers.get("access-control-allow-origin"), null, origin);
    }
    // No Origin, but the browser says the page is on another site (a no-cors GET, an <img>).
    const crossSite = await send(app, "GET", url, { "sec-fetch-site": "cross-site" });
    const message = assertError(crossSite, 403, "ORIGIN_NOT_ALLOWED", ["cross-site"]);
    assert.ok(crossSite.body.error.hint.includes("--allowed-origin"), message);
  });

  test("a page from the server's own origin is served, reads and JSON writes", async () => {
    const store = await ctx.open();
    const { app } = testApi(store);
    const own = "http://127.0.0.1:4200";
    const browser = { origin: own, "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" };
    const name = `agent-${randomUUID()}`;
    const write = await send(
      app,
      "POST",
      `${own}/api/agents`,
      {
        ...browser,
        "content-type": "application/json",
      },
      JSON.stringify({ name }),
    );
    assert.equal(write.status, 200, JSON.stringify(write.body));
    assert.equal(write.body.name, name);
    const read = await send(app, "GET", `${own}/api/agents`, browser);
    assert.equal(read.status, 200);
    assert.equal(
      read.headers.get("access-control-allow-origin"),
      null,
      "same origin needs no CORS",
    );
    // By name at its port too, when that is how the page was loaded.
    const byName = await send(app, "GET", "http://localhost:4200/api/agents", {
      origin: "http://localhost:4200",
    });
    assert.equal(byName.status, 200);
  });

  test("a rebound Host name is 403 on every method; localhost and IP addresses are served", async () => {
    const { app } = testApi(await ctx.open());
    const rebound = await send(app, "GET", "http://attacker.example:4200/api/flow-runs", {});
    const message = assertError(rebound, 403, "HOST_NOT_ALLOWED", ['"attacker.example:4200"']);
    assert.match(
      rebound.body.error.hint,
      /--allowed-host attacker\.example \(WEFT_ALLOWED_HOSTS\)/,
      message,
    );
    // Even an open route: a rebound page must not read anything, the OpenAPI document included.
    assertError(
      await send(app, "GET", "http://attacker.example:4200/api/openapi.json", {}),
      403,
      "HOST_NOT_ALLOWED",
    );
    assertError(
      await send(
        app,
        "POST",
        "http://attacker.example:4200/api/agents",
        { "content-type": "application/json" },
        "{}",
      ),
      403,
      "HOST_NOT_ALLOWED",
    );
    for (const host of [
      "localhost:4200",
      "127.0.0.1:4200",
      "[::1]:4200",
      "10.1.2.3:4200",
      "localhost",
    ]) {
      const answer = await send(app, "GET", `http://${host}/api/flow-runs`, {});
      assert.equal(answer.status, 200, `${host}: ${JSON.stringify(answer.body)}`);
    }
  });

  test("configured hosts and origins are allowed; the origins get CORS headers", async () => {
    const { app } = testApi(await ctx.open(), {
      guard: {
        allowedHosts: ["weft.example.com", ".corp.example"],
        allowedOrigins: ["https://UI.example.com:8443/"],
      },
    });
    for (const host of [
      "weft.example.com",
      "weft.example.com:8080",
      "corp.example",
      "a.b.corp.example:4200",
    ]) {
      const answer = await send(app, "GET", `http://${host}/api/flow-runs`, {});
      assert.equal(answer.status, 200, `${host}: ${JSON.stringify(answer.body)}`);
    }
    assertError(
      await send(app, "GET", "http://evilcorp.example/api/flow-runs", {}),
      403,
      "HOST_NOT_ALLOWED",
    );

    const ui = "https://ui.example.com:8443";
    const preflight = await send(app, "OPTIONS", "http://weft.example.com/api/flow-runs", {
      origin: ui,
      "sec-fetch-site": "cross-site",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), ui);
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /content-type/);
    const write = await send(
      app,
      "POST",
      "http://weft.example.com/api/flow-runs",
      {
        origin: ui,
        "sec-fetch-site": "cross-site",
        "content-type": "application/json",
      },
      JSON.stringify({ flowName: `missing-${randomUUID()}` }),
    );
    assertError(write, 404, "FLOW_NOT_FOUND"); // past the guard: the route answered
    assert.equal(write.headers.get("access-control-allow-origin"), ui);
    assertError(
      await send(app, "GET", "http://weft.example.com/api/flow-runs", {
        origin: "https://ui.example.com",
      }),
      403,
      "ORIGIN_NOT_ALLOWED",
    );
  });

  test("allowed hosts and origins that are not one are INVALID_ARGUMENT", async () => {
    const store = await ctx.open();
    const bad = [
      { allowedHosts: ["http://weft.example.com"] },
      { allowedHosts: ["weft.example.com/api"] },
      { allowedOrigins: ["ui.example.com"] },
      { allowedOrigins: ["https://ui.example.com/app"] },
      { allowedOrigins: ["ftp://ui.example.com"] },
    ];
    for (const guard of bad) {
      const error = await expectCode(
        () => createApp({ db: store, guard }),
        "INVALID_ARGUMENT",
        JSON.stringify(guard),
      );
      assert.match(error.hint ?? "", /--allowed-(host|origin) /);
    }
  });
});

forEachDialect("request guard (a real loopback server)", (ctx) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ db: ctx.db, port: 0, scheduler: false, runHealth: false });
  });
  after(async () => {
    await server?.close();
  });

  test("the Host a request really carries: a rebound name or another port is refused; its own is served", async () => {
    assert.equal(server.open, true, "an open loopback server: the case the guard is for");
    const port = server.port;
    const rebound = await rawRequest(port, "GET", "/api/flows", {
      host: `attacker.example:${port}`,
    });
    assert.equal(rebound.status, 403);
    assert.equal(rebound.json().error.code, "HOST_NOT_ALLOWED");
    assert.match(rebound.json().error.message, new RegExp(`attacker\\.example:${port}`));
    const write = await rawRequest(
      port,
      "POST",
      "/api/flows",
      { host: `attacker.example:${port}`, "content-type": "application/json" },
      JSON.stringify({ flow: serializedFlow() }),
    );
    assert.equal(write.status, 403);
    const otherPort = await rawRequest(port, "GET", "/api/flows", {
      host: `127.0.0.1:${port + 1}`,
    });
    assert.equal(
      otherPort.json().error.code,
      "HOST_NOT_ALLOWED",
      "the server's name at another port",
    );
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "127.0.0.1"]) {
      const answer = await rawRequest(port, "GET", "/api/flows", { host });
      assert.equal(answer.status, 200, `${host}: ${answer.text}`);
    }
  });

  test("a simple request from a web page stores nothing; a same-origin page and the CLI's client work", async () => {
    const port = server.port;
    const flow = serializedFlow();
    const attack = await rawRequest(
      port,
      "POST",
      "/api/flows",
      {
        "content-type": "text/plain;charset=UTF-8",
        origin: ATTACKER,
        "sec-fetch-site": "cross-site",
      },
      JSON.stringify({ flow }),
    );
    assert.equal(attack.status, 403);
    assert.equal(attack.headers["access-control-allow-origin"], undefined);
    assert.deepEqual(
      (await server.db.flows.list({ name: flow.name, archived: "all", limit: 10 })).items,
      [],
    );

    const page = await rawRequest(
      port,
      "POST",
      "/api/flows",
      {
        origin: `http://127.0.0.1:${port}`,
        "sec-fetch-site": "same-origin",
        "content-type": "application/json",
      },
      JSON.stringify({ flow }),
    );
    assert.equal(page.status, 201, page.text);

    // The typed client (what the CLI and agents use) and the CLI itself, through fetch.
    const client = createApiClient({ url: server.url });
    const { run } = await client.createFlowRun({ flowName: flow.name });
    await client.heartbeatAgent((await client.registerAgent({ name: `agent-${randomUUID()}` })).id);
    assert.equal((await client.cancelFlowRun(run.id)).state.type, "Cancelled");
    const listed = await runCli(["flows", "ls", "--api", server.url, "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(flow.name));
  });
});

describe("request guard (servers beyond loopback)", () => {
  forEachDialect("with a token", (ctx) => {
    test("Host is not checked unless --allowed-host is set; then it is, loopback addresses included", async () => {
      const store = await ctx.open();
      const { secret } = await store.tokens.create({
        name: `admin-${randomUUID()}`,
        scopes: ["admin"],
      });
      const auth = { authorization: `Bearer ${secret}` };
      const plain = await startServer({
        db: ctx.db,
        host: "0.0.0.0",
        port: 0,
        scheduler: false,
        runHealth: false,
      });
      try {
        // Every request needs the token, which a rebound page has not got: any name serves.
        const answer = await rawRequest(plain.port, "GET", "/api/flows", {
          ...auth,
          host: `weft.internal:${plain.port}`,
        });
        assert.equal(answer.status, 200, answer.text);
        const noToken = await rawRequest(plain.port, "GET", "/api/flows", {
          host: `attacker.example:${plain.port}`,
        });
        assert.equal(noToken.json().error.code, "UNAUTHENTICATED");
        // Origins are checked everywhere.
        const foreign = await rawRequest(plain.port, "GET", "/api/flows", {
          ...auth,
          origin: ATTACKER,
        });
        assert.equal(foreign.json().error.code, "ORIGIN_NOT_ALLOWED");
      } finally {
        await plain.close();
      }
      const listed = await startServer({
        db: ctx.db,
        host: "0.0.0.0",
        port: 0,
        scheduler: false,
        runHealth: false,
        allowedHosts: ["weft.internal"],
      });
      try {
        const port = listed.port;
        for (const host of [`weft.internal:${port}`, `127.0.0.1:${port}`, `localhost:${port}`]) {
          const answer = await rawRequest(port, "GET", "/api/flows", { ...auth, host });
          assert.equal(answer.status, 200, `${host}: ${answer.text}`);
        }
        const other = await rawRequest(port, "GET", "/api/flows", {
          ...auth,
          host: `weft.other:${port}`,
        });
        assert.equal(other.json().error.code, "HOST_NOT_ALLOWED");
      } finally {
        await listed.close();
      }
    });
  });
});
