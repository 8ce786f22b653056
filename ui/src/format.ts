// Times and durations as the UI prints them.

/** A duration in ms as "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** The time between two ISO times (the second defaults to now), or "–" without a start. */
export function durationBetween(start: string | undefined, end?: string | undefined): string {
  if (start === undefined) return "–";
  return formatDuration((end === undefined ? Date.now() : Date.parse(end)) - Date.parse(start));
}

/** An ISO time as this browser's local date and time, to the second. */
export function formatTime(iso: string | undefined): string {
  if (iso === undefined) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}

/** An ISO time relative to now: "in 5 min", "3 h ago". */
export function formatRelative(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return "–";
  const delta = Date.parse(iso) - now;
  const abs = Math.abs(delta);
  const text =
    abs < 60_000
      ? `${Math.round(abs / 1000)} s`
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 86_400_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} d`;
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}
