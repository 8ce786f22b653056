// The runtime guard every environment kind's factory wraps its implementation in
// (src/environments/environment-guard.ts): the storage × environment pairing is
// checked there, once, so an implementation that checks nothing is still refused an
// unfit storage, at setup and in an execute that skipped setup. No process is started.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { WeftError } from "../../src/core/errors.ts";
import { State } from "../../src/core/states.ts";
import type { Environment, ExecuteContext } from "../../src/environments/environment.ts";
import {
  type EnvironmentImpl,
  guardEnvironment,
} from "../../src/environments/environment-guard.ts";
import { createEnvironment } from "../../src/environments/registry.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { greetFlow } from "../fixtures/environments/env-flows.ts";
import { expectCode } from "./environment-helpers.ts";

/** An implementation that checks nothing and records what reached it. */
function bareImpl(calls: string[]): EnvironmentImpl {
  return {
    type: "bare",
    labels: [],
    storageNeeds: "shareable",
    hooks: {
      onStart: () => void calls.push("onStart"),
      onExit: (_ctx, state) => void calls.push(`onExit ${state.type}`),
    },
    async setup() {
      calls.push("setup");
    },
    async execute() {
      calls.push("execute");
      return { state: new State("Success") };
    },
    toJSON: () => ({ type: "bare", schemaVersion: 1, labels: [] }),
  };
}

async function builtMemory(): Promise<{ storage: Storage; location: string }> {
  const storage = createMemoryStorage();
  const location = storage.addFlow(greetFlow);
  await storage.build();
  return { storage, location };
}

describe("environment guard", () => {
  test("setup refuses an unfit storage before the implementation provisions anything", async () => {
    const calls: string[] = [];
    const environment = guardEnvironment(bareImpl(calls), {});
    const error = await expectCode(
      () => environment.setup(createMemoryStorage()),
      "STORAGE_NOT_SHAREABLE",
      "bare + memory",
    );
    assert.match(error.message, /bare environment .* memory storage/);
    assert.match(error.hint ?? "", /local/);
    assert.deepEqual(calls, [], "the implementation's setup never ran");
    await environment.setup(createLocalStorage({ directory: "/tmp/weft-guard-never-written" }));
    assert.deepEqual(calls, ["setup"]);
  });

  test("execute without setup refuses an unfit storage: Failed between the hooks, no run", async () => {
    const calls: string[] = [];
    const environment = guardEnvironment(bareImpl(calls), {});
    const { storage, location } = await builtMemory();
    const heard: string[] = [];
    const ctx: ExecuteContext = {
      flowRunId: randomUUID(),
      reporter: { flowState: (_run, state) => void heard.push(state.type) },
    };
    const { state } = await environment.execute(storage, location, ctx);
    assert.equal(state.type, "Failed");
    assert.match(state.message ?? "", /bare environment .* memory storage/);
    assert.equal(state.error?.code, "STORAGE_NOT_SHAREABLE");
    assert.deepEqual(calls, ["onStart", "onExit Failed"], "the implementation never ran");
    assert.deepEqual(heard, ["Failed"], "the outcome is reported once");
  });

  test("the kind's own refusal replaces the generic one, keeping it as the cause", async () => {
    const environment = guardEnvironment(bareImpl([]), {
      refusePairing: (storage, refused) =>
        new WeftError("STORAGE_NOT_SHAREABLE", `bare cannot use ${storage.type}`, {
          hint: "its own hint",
          cause: refused,
        }),
    });
    const error = await expectCode(
      () => environment.setup(createMemoryStorage()),
      "STORAGE_NOT_SHAREABLE",
      "bare + memory",
    );
    assert.equal(error.message, "bare cannot use memory");
    assert.equal(error.hint, "its own hint");
    assert.match(String((error.cause as Error).message), /bare environment/);
  });

  test("every registered kind is guarded: its setup refuses memory storage when it needs more", async () => {
    for (const kind of ["local", "subprocess"]) {
      const environment: Environment = createEnvironment(kind);
      if (environment.storageNeeds === "none") {
        await environment.setup(createMemoryStorage());
      } else {
        await expectCode(
          () => environment.setup(createMemoryStorage()),
          "STORAGE_NOT_SHAREABLE",
          `${kind} + memory`,
        );
      }
      assert.equal(typeof environment.teardown, "function", `${kind}: teardown is always there`);
    }
  });
});
