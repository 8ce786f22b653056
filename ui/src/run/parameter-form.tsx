// A form of a flow's parameters, from their specs (type, default, required, description),
// prefilled with given values; validated before sending (errors by field), and the server's
// refusal shown on the field it names (else above the button).
//
// The run page uses it to re-run with other parameters; the rules are those of the start form.
import { useState } from "react";
import type { SerializedParameter } from "../../../src/serialization/schemas.ts";
import { ApiError } from "../api.ts";

type Values = Record<string, string | boolean>;

/** A value as the form edits it: text (JSON for objects and arrays), or a checkbox. */
function toField(spec: SerializedParameter, value: unknown): string | boolean {
  if (spec.type === "boolean") return value === true;
  if (value === undefined) return "";
  if (spec.type === "string" && typeof value === "string") return value;
  if ((spec.type === "number" || spec.type === "integer") && typeof value === "number")
    return String(value);
  return JSON.stringify(
    value,
    null,
    spec.type === "object" || spec.type === "array" ? 2 : undefined,
  );
}

/** The field's value checked against its spec: `{ value }`, `{ error }`, or `{}` (left out). */
export function readField(
  spec: SerializedParameter,
  raw: string | boolean,
): { value?: unknown; error?: string } {
  if (typeof raw === "boolean") return { value: raw };
  const text = raw.trim();
  if (text === "") {
    if (spec.required && spec.default === undefined) return { error: "is required" };
    return {};
  }
  switch (spec.type) {
    case "string":
      return { value: raw };
    case "number":
    case "integer": {
      const n = Number(text);
      if (!Number.isFinite(n)) return { error: `must be a number, not "${text}"` };
      if (spec.type === "integer" && !Number.isInteger(n))
        return { error: `must be a whole number, not ${text}` };
      return { value: n };
    }
    default: {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        if (spec.type === undefined) return { value: raw };
        return { error: `must be JSON (${spec.type === "array" ? "[…]" : "{…}"})` };
      }
      if (spec.type === "array" && !Array.isArray(value)) return { error: "must be a JSON array" };
      if (
        spec.type === "object" &&
        (value === null || typeof value !== "object" || Array.isArray(value))
      )
        return { error: "must be a JSON object" };
      return { value };
    }
  }
}

/** The parameter an API error is about (`details.parameter`, or a path under "parameters"). */
function fieldOf(error: unknown): string | undefined {
  if (!(error instanceof ApiError) || error.details === undefined) return undefined;
  const { parameter, path } = error.details;
  if (parameter !== undefined) return parameter;
  return path?.[0] === "parameters" && typeof path[1] === "string" ? path[1] : undefined;
}

export function ParameterForm(props: {
  specs: readonly SerializedParameter[];
  initial: Readonly<Record<string, unknown>>;
  submitLabel: string;
  onSubmit: (parameters: Record<string, unknown>) => Promise<void>;
  onCancel: () => void;
}) {
  const { specs, initial, submitLabel, onSubmit, onCancel } = props;
  const [values, setValues] = useState<Values>(() =>
    Object.fromEntries(specs.map((s) => [s.name, toField(s, initial[s.name] ?? s.default)])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const found: Record<string, string> = {};
    const parameters: Record<string, unknown> = {};
    for (const spec of specs) {
      const read = readField(spec, values[spec.name] ?? "");
      if (read.error !== undefined) found[spec.name] = read.error;
      else if ("value" in read) parameters[spec.name] = read.value;
    }
    setErrors(found);
    setFormError(undefined);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      await onSubmit(parameters);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const field = specs.find((s) => s.name === fieldOf(error));
      if (field !== undefined) setErrors({ [field.name]: text });
      else setFormError(text);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="parameter-form" onSubmit={submit} noValidate>
      {specs.length === 0 && <p className="muted">This flow has no parameters.</p>}
      {specs.map((spec) => {
        const id = `param-${spec.name}`;
        const error = errors[spec.name];
        const value = values[spec.name] ?? "";
        const set = (v: string | boolean) => setValues((old) => ({ ...old, [spec.name]: v }));
        const described = [spec.description ? `${id}-help` : "", error ? `${id}-error` : ""]
          .join(" ")
          .trim();
        return (
          <div
            key={spec.name}
            className={`parameter-field${error ? " has-error" : ""}`}
            data-parameter={spec.name}
          >
            <label htmlFor={id}>
              {spec.name}
              {spec.required && <span aria-hidden="true"> *</span>}
              <span className="muted"> {spec.type ?? "any (JSON or text)"}</span>
            </label>
            {spec.type === "boolean" ? (
              <input
                id={id}
                type="checkbox"
                checked={value === true}
                onChange={(e) => set(e.target.checked)}
                aria-describedby={described || undefined}
              />
            ) : spec.type === "object" || spec.type === "array" ? (
              <textarea
                id={id}
                rows={3}
                value={String(value)}
                onChange={(e) => set(e.target.value)}
                aria-invalid={error !== undefined}
                aria-describedby={described || undefined}
              />
            ) : (
              <input
                id={id}
                type="text"
                inputMode={
                  spec.type === "number" || spec.type === "integer" ? "decimal" : undefined
                }
                value={String(value)}
                required={spec.required}
                onChange={(e) => set(e.target.value)}
                aria-invalid={error !== undefined}
                aria-describedby={described || undefined}
              />
            )}
            {spec.description && (
              <small id={`${id}-help`} className="muted">
                {spec.description}
              </small>
            )}
            {error && (
              <small id={`${id}-error`} className="field-error" role="alert">
                {spec.name} {error}
              </small>
            )}
          </div>
        );
      })}
      {formError && (
        <p className="field-error" role="alert">
          {formError}
        </p>
      )}
      <div className="parameter-form-buttons">
        <button type="submit" disabled={busy}>
          {busy ? "Starting…" : submitLabel}
        </button>
        <button type="button" onClick={onCancel}>
          Close
        </button>
      </div>
    </form>
  );
}
