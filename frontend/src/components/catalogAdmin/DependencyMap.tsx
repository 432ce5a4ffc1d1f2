/**
 * The catalog's dependency map: each item in a column after everything it depends on, its runnable versions
 * stacked in its box, and an arrow from each version to the version of the other item its range resolves to (red
 * when nothing satisfies it). Focused on one item, the map keeps what that item needs and what needs it, both ways
 * and transitively. The drawing is a group, not an image: its item names are links.
 */
import { Link } from "react-router";
import type { DependencyEdge } from "../../api/catalogAdmin";
import { anchor, BOX, HEADER, layout, ROW } from "../../lib/dependencyGraph";

export function DependencyMap({ edges, focus }: { edges: DependencyEdge[]; focus?: string }) {
  if (edges.length === 0) return <p className="text-sm muted">No dependencies between runnable versions.</p>;
  const { boxes, width, height } = layout(edges);
  return (
    <div className="overflow-auto" role="region" tabIndex={0} aria-label="Dependency map" data-testid="dependency-map">
      <svg width={width} height={height} role="group" aria-labelledby="dependency-map-title" className="text-xs">
        <title id="dependency-map-title">
          {edges.map((e) => `${e.from} needs ${e.to} ${e.range}${e.resolved ? ` (${e.resolved})` : " (missing)"}`).join("; ")}
        </title>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="fill-stone-500" />
          </marker>
        </defs>
        {edges.map((e) => {
          const source = boxes.get(e.item_id);
          const target = boxes.get(e.to);
          if (!source || !target) return null;
          // Dependencies sit in columns to the left: arrows run right to left.
          const [x1, y1] = anchor(source, e.version, "left");
          const [x2, y2] = anchor(target, e.resolved ?? null, "right");
          const bend = Math.max(30, (x1 - x2) / 2);
          return (
            <path
              key={`${e.from}->${e.to}`}
              d={`M${x1},${y1} C${x1 - bend},${y1} ${x2 + bend},${y2} ${x2},${y2}`}
              className={`fill-none ${e.resolved ? "stroke-stone-400" : "stroke-red-600"}`}
              strokeWidth={1.5}
              strokeDasharray={e.resolved ? undefined : "4 3"}
              markerEnd="url(#arrow)"
            >
              <title>{`${e.from} needs ${e.to} ${e.range}: ${e.resolved ?? "nothing satisfies it"}`}</title>
            </path>
          );
        })}
        {[...boxes.values()].map((box) => (
          <g key={box.item} transform={`translate(${box.x},${box.y})`}>
            <rect
              width={BOX}
              height={HEADER + Math.max(box.versions.length, 1) * ROW}
              rx={6}
              className={`fill-white stroke-2 dark:fill-stone-900 ${box.item === focus ? "stroke-accent-600" : "stroke-stone-300 dark:stroke-stone-700"}`}
            />
            <Link to={`/admin/catalog/${encodeURIComponent(box.item)}`}>
              <text x={8} y={17} className="fill-accent-700 font-mono font-semibold dark:fill-accent-500">
                {box.item.length > 24 ? `${box.item.slice(0, 23)}…` : box.item}
              </text>
            </Link>
            {box.versions.map((v, i) => (
              <text key={v} x={16} y={HEADER + i * ROW + 15} className="fill-current font-mono">
                {v}
              </text>
            ))}
          </g>
        ))}
      </svg>
    </div>
  );
}
