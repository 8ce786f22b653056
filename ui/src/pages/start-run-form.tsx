// "Start a run": a form generated from a flow's parameter specs (type, default, required,
// description). Values are checked here before sending, by the same rules the server applies
// (src/core/parameter.ts: JSON types, integers whole); what the server still refuses (a
// version registered since the form was drawn, a parameter it does not know) is shown by the
// field its `details.parameter` (or, from an older server, its message) names. On success
// the browser goes to the new run's page.
//
// Inputs by type: text for strings and numbers (so a wrong value can be typed and explained,
// rather than silently refused by a number input), a checkbox for booleans, JSON in a text
// area for objects, arrays and untyped parameters. An empty optional field sends nothing, so
// the server applies the default.
import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router";
import type { SerializedParameter } from "../../../src/serialization/schemas.ts";
import { ApiError, api } from "../api.ts";
import { errorText } from "./common.tsx";

type Values = Record<string, string | boolean>;
type Errors = Record<string, string>;

function initialValue(p: SerializedParameter): string | boolean {
  if (p.type === "boolean") return p.default === true;
  if (p.default === undefined) return "";
  if (p.type === "string" && typeof p.default === "string") return p.default;
  return JSON.stringify(p.default, null, p.type === "object" || p.type === "array" ? 2 : 0);
}

/** The value to send for a field, or an error; `undefined` value: send nothing. */
export function readField(
  p: SerializedParameter,
  raw: string | boolean,
): { value?: unknown; error?: string } {
  if (typeof raw === "boolean") return { value: raw };
  const text = p.type === "string" ? raw : raw.trim();
  if (text === "") return p.required ? { error: "required" } : {};
  switch (p.type) {
    case "string":
      return { value: text };
    case "integer":
      return /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))
        ? { value: Number(text) }
        : { error: `must be a whole number, got ${JSON.stringify(text)}` };
    case "number": {
      const n = Number(text);
      return Number.isFinite(n) && /^[-+0-9.eE]+$/.test(text)
        ? { value: n }
        : { error: `must be a number, got ${JSON.stringify(text)}` };
    }
    default: {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return { error: 'must be JSON (e.g. {"a": 1}, [1, 2], "text")' };
      }
      if (p.type === "array" && !Array.isArray(value)) return { error: "must be a JSON array" };
      if (
        p.type === "object" &&
        (value === null || typeof value !== "object" || Array.isArray(value))
      )
        return { error: "must be a JSON object" };
      return { value };
    }
  }
}

/** The parameter a server error's message names (`parameter "x"`): for a server without `details`. */
function fieldOf(message: string, names: readonly string[]): string | undefined {
  const m = /parameter "([^"]+)"/.exec(message);
  return m !== null && names.includes(m[1]!) ? m[1] : undefined;
}

/** The form that starts a run of `flowName` (its newest active version). */
export function StartRunForm({
  flowName,
  parameters,
}: {
  flowName: string;
  parameters: readonly SerializedParameter[];
}) {
  const navigate = useNavigate();
  const [values, setValues] = useState<Values>(() =>
    Object.fromEntries(parameters.map((p) => [p.name, initialValue(p)])),
  );
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const start = useMutation({
    mutationFn: (params: Record<string, unknown>) =>
      api().createFlowRun({ flowName, parameters: params as Record<string, never> }),
    onSuccess: ({ run }) => {
      void navigate(`/runs/${encodeURIComponent(run.id)}`);
    },
    onError: (error) => {
      const message = error instanceof ApiError ? error.message : errorText(error);
      const names = parameters.map((p) => p.name);
      const named = error instanceof ApiError ? error.details?.parameter : undefined;
      const field =
        typeof named === "string" && names.includes(named) ? named : fieldOf(message, names);
      if (field !== undefined) setErrors({ [field]: message });
      else setFormError(errorText(error));
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setFormError(undefined);
    const found: Errors = {};
    const params: Record<string, unknown> = {};
    for (const p of parameters) {
      const read = readField(p, values[p.name] ?? "");
      if (read.error !== undefined) found[p.name] = read.error;
      else if (read.value !== undefined) params[p.name] = read.value;
    }
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    start.mutate(params);
  };
  return (
    <form className="stack" onSubmit={submit} noValidate aria-label={`Start a run of ${flowName}`}>
      {parameters.length === 0 ? <p className="note">This flow takes no parameters.</p> : null}
      {parameters.map((p) => {
        const id = `param-${p.name}`;
        const error = errors[p.name];
        const described = [p.description ? `${id}-help` : "", error ? `${id}-error` : ""]
          .filter(Boolean)
          .join(" ");
        const common = {
          id,
          name: p.name,
          "aria-invalid": error !== undefined,
          "aria-describedby": described || undefined,
          "aria-required": p.required,
          "data-param": p.name,
        };
        const value = values[p.name];
        const set = (v: string | boolean) => setValues((old) => ({ ...old, [p.name]: v }));
        return (
          <div className="field" key={p.name}>
            <label htmlFor={id}>
              {p.name}
              {p.required ? <span aria-hidden="true"> *</span> : null}{" "}
              <span className="muted mono">{p.type ?? "any JSON"}</span>
            </label>
            {p.type === "boolean" ? (
              <input
                {...common}
                type="checkbox"
                checked={value === true}
                onChange={(e) => set(e.target.checked)}
              />
            ) : p.type === "object" || p.type === "array" || p.type === undefined ? (
              <textarea
                {...common}
                rows={3}
                className="mono"
                value={String(value ?? "")}
                onChange={(e) => set(e.target.value)}
              />
            ) : (
              <input
                {...common}
                type="text"
                inputMode={
                  p.type === "integer" ? "numeric" : p.type === "number" ? "decimal" : undefined
                }
                value={String(value ?? "")}
                onChange={(e) => set(e.target.value)}
              />
            )}
            {p.description ? (
              <span className="help" id={`${id}-help`}>
                {p.description}
                {p.default !== undefined ? ` (default ${JSON.stringify(p.default)})` : ""}
              </span>
            ) : p.default !== undefined ? (
              <span className="help">default {JSON.stringify(p.default)}</span>
            ) : null}
            {error ? (
              <div className="field-error" id={`${id}-error`} role="alert">
                {error}
              </div>
            ) : null}
          </div>
        );
      })}
      {formError ? (
        <p className="note note-error" role="alert">
          {formError}
        </p>
      ) : null}
      <div>
        <button type="submit" className="button" disabled={start.isPending}>
          {start.isPending ? "Starting…" : "Start run"}
        </button>
      </div>
    </form>
  );
}
