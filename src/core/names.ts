// Names of flows and tasks, and the slugs derived from them. A name is what people
// read (any printable text: "Example: Mapping", "Map / Reduce 🤓"); a slug is what
// goes where only plain characters are safe (file names, object keys, directories,
// command-line arguments): lowercase ASCII letters, digits and dashes.
//
// Decisions:
// - A name is refused only when it cannot be shown or told apart: empty, over
//   NAME_MAX_LENGTH, a control character (U+0000–U+001F, U+007F–U+009F) or a line
//   or paragraph separator, a lone surrogate, or whitespace at either end ("etl "
//   and "etl" would look the same in every list). Format characters stay: emoji
//   sequences join with U+200D.
// - NAME_MAX_LENGTH leaves room under the server's name limit (LIMITS.name, 256,
//   serialization/limits.ts) for what the server appends to a flow's name (a run's
//   name `<flow>-<time>`) and a task slug's `-<n>`; a test keeps the two in step.
// - A slug is derived, never stored as an identity: two names may share a slug
//   ("Map / Reduce" and "map-reduce"), so whatever looks a flow up by slug refuses
//   an ambiguous one, and paths built from slugs also hold something unique (a
//   run id). A name with no letter or digit at all gets its code points in hex
//   ("🤓" → "u1f913"), so it still has a readable, distinct slug.

/** The longest flow or task name, in UTF-16 code units (JavaScript's `length`). */
export const NAME_MAX_LENGTH = 200;

/** The longest slug (longer names are cut; slugs are for paths, not identity). */
const SLUG_MAX_LENGTH = 80;

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const EDGE_SPACE = /^\s|\s$/u;

/**
 * Why `name` cannot name a flow or a task, or undefined when it can: empty,
 * longer than {@link NAME_MAX_LENGTH}, holding a control character or a lone
 * surrogate, or starting or ending with whitespace.
 */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return `must be a string, got ${typeof name}`;
  if (name.length === 0) return "must not be empty";
  if (name.length > NAME_MAX_LENGTH) {
    return `must be at most ${NAME_MAX_LENGTH} characters (got ${name.length})`;
  }
  const bad = UNSHOWABLE.exec(name);
  if (bad !== null) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    return `must not contain a control character (U+${code} at index ${bad.index})`;
  }
  if (!(name as unknown as { isWellFormed(): boolean }).isWellFormed()) {
    return "must be well-formed Unicode (it holds a lone surrogate)";
  }
  if (EDGE_SPACE.test(name)) return "must not start or end with whitespace";
  return undefined;
}

/**
 * The slug of a name: lowercase ASCII letters, digits and single dashes, at most
 * 80 characters; accents are dropped ("Café" → "cafe"), anything else becomes a
 * dash. Deterministic, so every process derives the same slug.
 * @example
 * slugify("Example: Mapping") // "example-mapping"
 * slugify("Map / Reduce 🤓")  // "map-reduce"
 * slugify("🤓")               // "u1f913"
 */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, SLUG_MAX_LENGTH)
    .replace(/^-+|-+$/g, "");
  if (slug !== "") return slug;
  const hex = [...name]
    .map((c) => `u${c.codePointAt(0)!.toString(16)}`)
    .join("-")
    .slice(0, SLUG_MAX_LENGTH)
    .replace(/-+$/, "");
  return hex === "" ? "unnamed" : hex;
}
