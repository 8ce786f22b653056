// Finished runs over time as stacked bars by final state, drawn in SVG (no chart library:
// it is a few rectangles). The bars group the state types by tone (components/state.tsx),
// so the colours are the ones every state has elsewhere.
import type { DashboardResponse } from "../../../src/serialization/dashboard-schemas.ts";
import { stateTone } from "../components/state.tsx";

const TONES = ["ok", "fail", "skip"] as const;
const TONE_NAMES = { ok: "succeeded", fail: "failed", skip: "cancelled or skipped" } as const;
const W = 720;
const H = 180;
const PAD = { left: 34, right: 8, top: 8, bottom: 22 };

/** The buckets as a bar chart, with a legend and an accessible summary. */
export function RunsChart({ data }: { data: DashboardResponse }) {
  const rows = data.buckets.map((b) => {
    const by = { ok: 0, fail: 0, skip: 0 };
    for (const [type, n] of Object.entries(b.counts)) {
      const tone = stateTone(type);
      if (tone === "ok" || tone === "fail" || tone === "skip") by[tone] += n;
    }
    return { start: b.start, ...by, total: by.ok + by.fail + by.skip };
  });
  const max = Math.max(1, ...rows.map((r) => r.total));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, rows.length);
  const barW = Math.max(1, slot * 0.75);
  const y = (n: number) => (n / max) * innerH;
  const label = (iso: string) => {
    const d = new Date(iso);
    return data.bucket === "hour"
      ? `${String(d.getHours()).padStart(2, "0")}:00`
      : d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  };
  const every = Math.max(1, Math.ceil(rows.length / 8));
  const totals = { ok: 0, fail: 0, skip: 0 };
  for (const r of rows) for (const t of TONES) totals[t] += r[t];
  const summary = `Finished runs per ${data.bucket} since ${new Date(data.since).toLocaleString()}: ${totals.ok} succeeded, ${totals.fail} failed, ${totals.skip} cancelled or skipped.`;
  return (
    <figure className="chart" style={{ margin: 0 }}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary}>
        <title>{summary}</title>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line
              className="grid"
              x1={PAD.left}
              x2={W - PAD.right}
              y1={PAD.top + innerH - f * innerH}
              y2={PAD.top + innerH - f * innerH}
            />
            <text
              className="axis"
              x={PAD.left - 4}
              y={PAD.top + innerH - f * innerH + 3}
              textAnchor="end"
            >
              {Math.round(f * max)}
            </text>
          </g>
        ))}
        {rows.map((r, i) => {
          const x = PAD.left + i * slot + (slot - barW) / 2;
          let base = PAD.top + innerH;
          return (
            <g key={r.start} data-bucket={r.start} data-total={r.total}>
              <title>{`${new Date(r.start).toLocaleString()}: ${r.ok} succeeded, ${r.fail} failed, ${r.skip} cancelled or skipped`}</title>
              {TONES.map((t) => {
                const h = y(r[t]);
                base -= h;
                return h > 0 ? (
                  <rect
                    key={t}
                    className={`bar-${t}`}
                    x={x}
                    y={base}
                    width={barW}
                    height={h}
                    rx={1}
                  />
                ) : null;
              })}
              {i % every === 0 ? (
                <text className="axis" x={x + barW / 2} y={H - 6} textAnchor="middle">
                  {label(r.start)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {TONES.map((t) => (
          <span key={t}>
            <i className={t} />
            {TONE_NAMES[t]} ({totals[t]})
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
