import { z } from "zod";
import { apiErrorSchema } from "../../serialization/api-schemas.ts";
import { statusOfCode } from "./errors.ts";
import type { AnyRoute } from "./routes.ts";

/** Builds the OpenAPI 3.1 document of `routes` from their zod schemas. */
export function openApiDocument(
  routes: readonly AnyRoute[],
  version: string,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const raw of routes) {
    // An event-stream route is documented as a GET answering text/event-stream.
    const r = raw.kind === "events" ? { ...raw, body: undefined, created: undefined } : raw;
    const path = r.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const parameters: unknown[] = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    if (r.query !== undefined) {
      const schema = jsonSchema(r.query, "input") as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        parameters.push({
          name,
          in: "query",
          required: schema.required?.includes(name) ?? false,
          schema: property,
        });
      }
    }
    const errorResponses: Record<string, unknown> = {};
    const codes = [
      ...(r.body || r.query ? ["INVALID_REQUEST"] : []),
      ...(r.scope === "open" ? [] : ["UNAUTHENTICATED", "FORBIDDEN"]),
      ...(r.body ? ["BODY_TOO_LARGE"] : []),
      // The request guard, before auth: every route checks Host and Origin, every write its content type.
      "HOST_NOT_ALLOWED",
      "ORIGIN_NOT_ALLOWED",
      ...(r.method === "post" ? ["UNSUPPORTED_MEDIA_TYPE"] : []),
      ...r.errors,
      "DATABASE_UNAVAILABLE",
    ];
    for (const code of codes) {
      const status = String(statusOfCode(code));
      const existing = errorResponses[status] as { description: string } | undefined;
      errorResponses[status] = {
        description: existing ? `${existing.description}, ${code}` : code,
        content: { "application/json": { schema: { $ref: "#/components/schemas/ApiError" } } },
      };
    }
    const success =
      raw.kind === "events"
        ? { content: { "text/event-stream": eventStreamContent(raw.events) } }
        : { content: { "application/json": { schema: jsonSchema(raw.response, "output") } } };
    const operation: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      "x-weft-scope": r.scope,
      security: r.scope === "open" ? [] : [{ bearer: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: jsonSchema(r.body, "input") } },
            },
          }
        : {}),
      responses: {
        ...(r.created !== "always" ? { "200": { description: "success", ...success } } : {}),
        ...(r.created !== undefined ? { "201": { description: "created", ...success } } : {}),
        ...errorResponses,
        "500": {
          description: "INTERNAL: an unexpected error (logged by the server)",
          content: { "application/json": { schema: { $ref: "#/components/schemas/ApiError" } } },
        },
      },
    };
    paths[path] = { ...paths[path], [r.method]: operation };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "weft API",
      version,
      description:
        "The weft server's JSON API. Errors are `{ error: { code, message, hint? } }`; authenticate with `Authorization: Bearer <token>` (scopes read ⊂ agent ⊂ admin).",
    },
    paths,
    components: {
      schemas: { ApiError: jsonSchema(apiErrorSchema, "output") },
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
  };
}

/**
 * An event stream's content: a string of `event: <name>` + `data: <JSON>` blocks
 * (OpenAPI 3.1 has no way to say more), its events and their data's schemas under
 * `x-weft-events`, and each event as OpenAPI 3.2's `itemSchema` would read it.
 */
function eventStreamContent(events: Readonly<Record<string, z.ZodType>>): Record<string, unknown> {
  const schemas = Object.fromEntries(
    Object.entries(events).map(([name, schema]) => [name, jsonSchema(schema, "output")]),
  );
  return {
    schema: {
      type: "string",
      description: `server-sent events: ${Object.keys(events).join(", ")}; a comment line (": keepalive") every 15 s`,
    },
    itemSchema: {
      oneOf: Object.entries(schemas).map(([name, data]) => ({
        type: "object",
        required: ["event", "data"],
        properties: {
          event: { const: name },
          data: { type: "string", contentMediaType: "application/json", contentSchema: data },
        },
      })),
    },
    "x-weft-events": schemas,
  };
}

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return rest;
}
