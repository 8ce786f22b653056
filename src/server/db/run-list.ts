// Helpers of the runs list (RunRepository.list): the labels filter as LIKE patterns on the
// labels' JSON text, and the list's order for merging the per-state pages.

/** The labels of a `labels` filter (comma-separated, blanks dropped). */
export function labelFilter(labels: string | undefined): string[] {
  if (labels === undefined) return [];
  return labels
    .split(",")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** `%text%` for LIKE, with `\`, `%` and `_` in `text` escaped by `\`. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Newest scheduled start first, then the greater id (the list's order). */
export function newestFirst(
  a: { scheduled_start: string; id: string },
  b: { scheduled_start: string; id: string },
): number {
  if (a.scheduled_start !== b.scheduled_start)
    return a.scheduled_start < b.scheduled_start ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
