// The one Node built-in that modules the UI shares with the server reach: core/states.ts
// describes a thrown non-Error value with `inspect`. The browser build gets this instead.
export function inspect(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
