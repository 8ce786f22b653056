// The result backend registry: every kind is one descriptor (type, schema,
// constructor from JSON, capabilities) in its own file, and the registry answers
// what a kind can do from its type alone, without making a backend.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { localResultBackendKind } from "../../src/engine/results/local-result-backend.ts";
import { s3ResultBackendKind } from "../../src/engine/results/s3-result-backend.ts";
import {
  resultBackendFromJSON,
  resultBackendRegistry,
} from "../../src/storage/result-backend-registry.ts";

describe("result backend registry", () => {
  test("each kind declares what other processes and machines can read", () => {
    assert.deepEqual(resultBackendRegistry.types(), ["local", "s3"]);
    assert.deepEqual(resultBackendRegistry.capabilities("local"), {
      shareable: true,
      remote: false,
    });
    assert.deepEqual(resultBackendRegistry.capabilities("s3"), { shareable: true, remote: true });
    assert.equal(resultBackendRegistry.capabilities("nfs"), undefined);
  });

  test("a kind's descriptor is what the registry builds from", () => {
    for (const kind of [localResultBackendKind, s3ResultBackendKind]) {
      assert.equal(resultBackendRegistry.has(kind.type), true, kind.type);
    }
    const json = {
      type: "local",
      schemaVersion: 1,
      directory: "/tmp/weft-results-never-written",
      template: "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}",
      serializer: "json",
    };
    assert.deepEqual(resultBackendFromJSON(json).toJSON(), json);
    assert.throws(
      () => resultBackendFromJSON({ ...json, type: "nfs" }),
      (error: Error & { code?: string }) =>
        error.code === "UNKNOWN_TYPE" && /known: local, s3/.test(error.message),
    );
  });
});
