// A flow's graph as SVG: one box per task, coloured by its state when states are given, edges
// between them, pan (drag) and zoom (wheel, buttons), a node selectable by click or keyboard.
// Used by the run page (with states) and the flow page (without).
//
// Decisions:
// - The layout (components/graph-layout.ts) is computed once per graph, never per state
//   change: live updates only re-colour nodes, and each node is a memoized component, so a
//   state change re-renders the nodes whose state changed.
// - A mapped task is ONE node; its children's states arrive as counts (`children`) and are
//   drawn as a stacked bar, never as a node per child.
// - Stable hooks for tests and automation: `data-task-slug` and `data-state` on each node.
// - The browser lays the nodes out once. The view that fits the graph in the frame is computed
//   (a layout effect measures the frame, still empty) before any node is drawn: drawing them at
//   scale 1 and then fitting changed the frame's height and the transform, and Chromium laid out
//   1,000 nodes' text a second time (0.6–1.3 s on the loaded machine). A node's tooltip
//   (`<title>`) exists only while the pointer is over it, not as 1,000 more elements to build.
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { type GraphLayout, layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "./graph-layout.ts";
import { STATE_TONES, stateTone } from "./state.tsx";
import "./flow-graph.css";

/** A task as the graph needs it (a serialized flow's task fits). */
export interface FlowGraphTask {
  readonly slug: string;
  readonly name: string;
  readonly kind?: string;
  readonly mapped?: boolean;
}

/** The graph to draw: a serialized flow's `tasks` and `edges` fit. */
export interface FlowGraphData {
  readonly tasks: readonly FlowGraphTask[];
  readonly edges: readonly { readonly upstream: string; readonly downstream: string }[];
}

/** A node's state: its type and, for a mapped task, how many children are in each state. */
export interface GraphNodeState {
  readonly type: string;
  readonly message?: string | undefined;
  readonly children?: Readonly<Record<string, number>> | undefined;
}

export interface FlowGraphProps {
  readonly graph: FlowGraphData;
  /** States by task slug; a task without one is drawn as not started (or stateless). */
  readonly states?: Readonly<Record<string, GraphNodeState>> | undefined;
  /** Called with a task's slug when its node is clicked or activated with the keyboard. */
  readonly onSelect?: ((slug: string) => void) | undefined;
  /** The slug drawn as selected. */
  readonly selected?: string | undefined;
}

interface View {
  readonly scale: number;
  readonly x: number;
  readonly y: number;
  /** The layout this view was fitted to: a new layout is fitted again before it is drawn. */
  readonly layout: GraphLayout;
}

const MIN_SCALE = 0.05;
const MAX_SCALE = 2.5;

/** The graph, with pan and zoom. */
export function FlowGraph({ graph, states, onSelect, selected }: FlowGraphProps) {
  const layout = useMemo(() => layoutGraph(graph), [graph]);
  const byslug = useMemo(() => new Map(graph.tasks.map((t) => [t.slug, t])), [graph]);
  const frame = useRef<HTMLDivElement>(null);
  const [fitted, setView] = useState<View | undefined>(undefined);
  const view = fitted?.layout === layout ? fitted : undefined;

  const fit = useCallback(() => {
    const box = frame.current?.getBoundingClientRect();
    const width = box?.width || 800;
    const height = Math.min(Math.max(layout.height, 120), 520);
    const scale = Math.max(
      MIN_SCALE,
      Math.min(1, width / Math.max(layout.width, 1), height / Math.max(layout.height, 1)),
    );
    setView({ scale, x: (width - layout.width * scale) / 2, y: 0, layout });
  }, [layout]);
  // Before the browser paints the empty frame: the nodes are then drawn once, already fitted.
  useLayoutEffect(fit, [fit]);

  // Wheel zoom around the pointer (a non-passive listener, so the page does not scroll).
  useEffect(() => {
    const el = frame.current;
    if (el === null) return;
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const box = el.getBoundingClientRect();
      const px = event.clientX - box.left;
      const py = event.clientY - box.top;
      setView((v) => v && zoomAt(v, Math.exp(-event.deltaY * 0.0015), px, py));
    };
    el.addEventListener("wheel", onWheel, { passive: false });
    return () => el.removeEventListener("wheel", onWheel);
  }, []);

  const drag = useRef<{ x: number; y: number; moved: boolean } | undefined>(undefined);
  const onPointerDown = (event: React.PointerEvent) => {
    if (event.button !== 0) return;
    drag.current = { x: event.clientX, y: event.clientY, moved: false };
  };
  const onPointerMove = (event: React.PointerEvent) => {
    const d = drag.current;
    if (d === undefined) return;
    const dx = event.clientX - d.x;
    const dy = event.clientY - d.y;
    if (!d.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!d.moved) (event.currentTarget as Element).setPointerCapture(event.pointerId);
    d.moved = true;
    d.x = event.clientX;
    d.y = event.clientY;
    setView((v) => v && { ...v, x: v.x + dx, y: v.y + dy });
  };
  const onPointerUp = () => {
    // A click after a drag must not select the node under the pointer.
    const moved = drag.current?.moved ?? false;
    drag.current = undefined;
    if (moved) suppressClick.current = true;
  };
  const suppressClick = useRef(false);
  const select = useCallback(
    (slug: string) => {
      if (suppressClick.current) {
        suppressClick.current = false;
        return;
      }
      onSelect?.(slug);
    },
    [onSelect],
  );

  const zoomBy = (factor: number) => {
    const box = frame.current?.getBoundingClientRect();
    setView((v) => v && zoomAt(v, factor, (box?.width ?? 0) / 2, (box?.height ?? 0) / 2));
  };
  const frameHeight = Math.min(Math.max(layout.height * Math.min(1, view?.scale ?? 1), 160), 560);

  return (
    <div className="flow-graph" data-layout={layout.engine} data-tasks={graph.tasks.length}>
      <div className="flow-graph-tools">
        <button type="button" onClick={() => zoomBy(1.25)} aria-label="Zoom in">
          +
        </button>
        <button type="button" onClick={() => zoomBy(0.8)} aria-label="Zoom out">
          −
        </button>
        <button type="button" onClick={fit}>
          Fit
        </button>
      </div>
      <div
        ref={frame}
        className="flow-graph-frame"
        style={{ height: frameHeight }}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
      >
        <svg className="flow-graph-svg" aria-label="Task graph">
          <title>Task graph</title>
          <defs>
            <marker
              id="flow-graph-arrow"
              viewBox="0 0 10 10"
              refX="9"
              refY="5"
              markerWidth="7"
              markerHeight="7"
              orient="auto-start-reverse"
            >
              <path d="M0 0 L10 5 L0 10 z" className="flow-graph-arrow" />
            </marker>
          </defs>
          {view !== undefined && (
            <g transform={`translate(${view.x} ${view.y}) scale(${view.scale})`}>
              <g className="flow-graph-edges">
                {layout.edges.map((e) => (
                  <path
                    key={`${e.from}>${e.to}`}
                    d={e.path}
                    className={
                      selected !== undefined && (e.from === selected || e.to === selected)
                        ? "flow-graph-edge is-near"
                        : "flow-graph-edge"
                    }
                    markerEnd="url(#flow-graph-arrow)"
                  />
                ))}
              </g>
              {layout.nodes.map((n) => {
                const task = byslug.get(n.slug);
                return (
                  <GraphNode
                    key={n.slug}
                    slug={n.slug}
                    name={task?.name ?? n.slug}
                    mapped={task?.mapped === true}
                    x={n.x}
                    y={n.y}
                    state={states?.[n.slug]}
                    stateful={states !== undefined}
                    selected={selected === n.slug}
                    onSelect={onSelect === undefined ? undefined : select}
                  />
                );
              })}
            </g>
          )}
        </svg>
      </div>
    </div>
  );
}

function zoomAt(v: View, factor: number, px: number, py: number): View {
  const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, v.scale * factor));
  const k = scale / v.scale;
  return { ...v, scale, x: px - (px - v.x) * k, y: py - (py - v.y) * k };
}

interface NodeProps {
  readonly slug: string;
  readonly name: string;
  readonly mapped: boolean;
  readonly x: number;
  readonly y: number;
  readonly state: GraphNodeState | undefined;
  readonly stateful: boolean;
  readonly selected: boolean;
  readonly onSelect: ((slug: string) => void) | undefined;
}

const GraphNode = memo(function GraphNode(props: NodeProps) {
  const { slug, name, mapped, x, y, state, stateful, selected, onSelect } = props;
  const type = state?.type ?? (stateful ? "Pending" : undefined);
  const tone = type === undefined ? "none" : stateTone(type);
  const left = x - NODE_WIDTH / 2;
  const top = y - NODE_HEIGHT / 2;
  const children = state?.children;
  const total = children === undefined ? 0 : sum(children);
  const label = name.length > 24 ? `${name.slice(0, 23)}…` : name;
  const interactive = onSelect !== undefined;
  const [hovered, setHovered] = useState(false);
  const title =
    hovered &&
    [
      name === slug ? slug : `${name} (${slug})`,
      type === undefined ? "" : `: ${type}${state?.message ? ` — ${state.message}` : ""}`,
      children === undefined ? "" : `\n${describeCounts(children)}`,
    ].join("");
  return (
    // An SVG group cannot be a <button>; when selectable it has the role, focus and keys of one.
    // biome-ignore lint/a11y/noStaticElementInteractions: the role is given when handlers are.
    // biome-ignore lint/a11y/useAriaPropsSupportedByRole: aria-pressed comes with role="button".
    <g
      className={`flow-graph-node state-${tone}${selected ? " is-selected" : ""}${mapped ? " is-mapped" : ""}`}
      data-task-slug={slug}
      data-state={type}
      data-children={children === undefined ? undefined : total}
      transform={`translate(${left} ${top})`}
      onPointerEnter={() => setHovered(true)}
      onPointerLeave={() => setHovered(false)}
      role={interactive ? "button" : undefined}
      tabIndex={interactive ? 0 : undefined}
      aria-label={interactive ? `${name}${type === undefined ? "" : `, ${type}`}` : undefined}
      aria-pressed={interactive ? selected : undefined}
      onClick={interactive ? () => onSelect(slug) : undefined}
      onKeyDown={
        interactive
          ? (event) => {
              if (event.key === "Enter" || event.key === " ") {
                event.preventDefault();
                onSelect(slug);
              }
            }
          : undefined
      }
    >
      {title && <title>{title}</title>}
      {mapped && (
        <rect
          className="flow-graph-stack"
          x={4}
          y={-4}
          width={NODE_WIDTH}
          height={NODE_HEIGHT}
          rx={6}
        />
      )}
      <rect className="flow-graph-box" width={NODE_WIDTH} height={NODE_HEIGHT} rx={6} />
      <text className="flow-graph-name" x={10} y={children === undefined ? 18 : 16}>
        {label}
      </text>
      {children === undefined ? (
        <text className="flow-graph-sub" x={10} y={34}>
          {type ?? ""}
          {mapped ? " · mapped" : ""}
        </text>
      ) : (
        <Histogram counts={children} total={total} />
      )}
    </g>
  );
});

/** A mapped task's children as a stacked bar, one segment per colour family, and their count. */
function Histogram({ counts, total }: { counts: Readonly<Record<string, number>>; total: number }) {
  const byTone = new Map<string, number>();
  for (const [type, n] of Object.entries(counts)) {
    const tone = stateTone(type);
    byTone.set(tone, (byTone.get(tone) ?? 0) + n);
  }
  const width = NODE_WIDTH - 70;
  let at = 10;
  return (
    <g className="flow-graph-histogram">
      {STATE_TONES.map((tone) => {
        const n = byTone.get(tone) ?? 0;
        if (n === 0 || total === 0) return null;
        const w = Math.max(2, (n / total) * width);
        const seg = (
          <rect key={tone} className={`state-${tone}`} x={at} y={26} width={w} height={8} />
        );
        at += w;
        return seg;
      })}
      <text className="flow-graph-count" x={NODE_WIDTH - 8} y={34} textAnchor="end">
        {total.toLocaleString("en-US")}
      </text>
    </g>
  );
}

function sum(counts: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const n of Object.values(counts)) total += n;
  return total;
}

/** "Success 9,998 · Failed 2" (largest first). */
export function describeCounts(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([type, n]) => `${type} ${n.toLocaleString("en-US")}`)
    .join(" · ");
}
