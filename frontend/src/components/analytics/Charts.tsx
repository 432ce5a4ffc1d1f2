/**
 * The analytics charts (recharts). This module is loaded on demand (`lazy` in the pages), so the chart library is
 * fetched only when a chart is shown. Each chart has a text alternative: the busiest items' runs are the usage
 * table beside it; the adoption chart says its totals per version in its caption.
 */
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Adoption, ItemUsage } from "../../api/analytics";

const PALETTE = ["#0f766e", "#b45309", "#4338ca", "#be123c", "#15803d", "#7c3aed", "#0369a1", "#a16207"];

function day(iso: string): string {
  return new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

/** Runs per version per day, stacked: how a new version takes over. */
export function AdoptionChart({ adoption }: { adoption: Adoption }) {
  const versions = [...adoption.versions].reverse(); // oldest at the bottom of the stack
  const data = adoption.days.map((d) => ({ day: day(d.day), ...d.runs }));
  const totals = adoption.versions.map((v) => `${v}: ${adoption.days.reduce((n, d) => n + (d.runs[v] ?? 0), 0)} runs`);
  return (
    <figure aria-label={`Runs of ${adoption.item_id} per version and day`} className="w-full">
      <figcaption className="sr-only">
        Runs of {adoption.item_id} per version over {adoption.days.length} days: {totals.join(", ") || "none"}.
      </figcaption>
      <div className="h-64 w-full">
      <ResponsiveContainer width="100%" height="100%">
        <AreaChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
          <XAxis dataKey="day" fontSize={12} />
          <YAxis allowDecimals={false} fontSize={12} />
          <Tooltip />
          <Legend />
          {versions.map((version, index) => (
            <Area
              key={version}
              type="monotone"
              dataKey={version}
              stackId="runs"
              stroke={PALETTE[index % PALETTE.length]}
              fill={PALETTE[index % PALETTE.length]}
              fillOpacity={0.5}
              isAnimationActive={false}
            />
          ))}
        </AreaChart>
      </ResponsiveContainer>
      </div>
    </figure>
  );
}

/** The busiest items' runs, succeeded and failed stacked. */
export function RunsChart({ items }: { items: ItemUsage[] }) {
  const data = items.slice(0, 12).map((i) => ({ item: i.item_id, succeeded: i.succeeded, failed: i.failed, cancelled: i.cancelled }));
  return (
    <figure aria-label="Runs of the busiest items, by outcome" className="h-64 w-full">
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
          <XAxis dataKey="item" fontSize={11} interval={0} angle={-20} textAnchor="end" height={50} />
          <YAxis allowDecimals={false} fontSize={12} />
          <Tooltip />
          <Legend />
          <Bar dataKey="succeeded" stackId="o" fill="#15803d" isAnimationActive={false} />
          <Bar dataKey="failed" stackId="o" fill="#be123c" isAnimationActive={false} />
          <Bar dataKey="cancelled" stackId="o" fill="#78716c" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}
