/** Usage figures per item (and, opened, per version): runs, success rate, run time percentiles, CPU and memory. */
import { Fragment, useState } from "react";
import { Link } from "react-router";
import type { ItemUsage, VersionUsage } from "../../api/analytics";
import { formatBytes, formatMs, formatPercent } from "../admin/format";
import { TableHead } from "../ui";

function Cells({ row }: { row: ItemUsage | VersionUsage }) {
  return (
    <>
      <td className="px-3 py-1 tabular-nums">{row.runs}</td>
      <td className="px-3 py-1 tabular-nums">{row.failed}</td>
      <td className="px-3 py-1 tabular-nums">{formatPercent(row.success_rate)}</td>
      <td className="px-3 py-1 tabular-nums">{formatMs(row.p50_ms)}</td>
      <td className="px-3 py-1 tabular-nums">{formatMs(row.p95_ms)}</td>
      <td className="px-3 py-1 tabular-nums">{formatMs(row.cpu_ms)}</td>
      <td className="px-3 py-1 tabular-nums">{row.max_rss_kb ? formatBytes(row.max_rss_kb * 1024) : "—"}</td>
    </>
  );
}

const COLUMNS = ["Runs", "Failed", "Success", "p50", "p95", "CPU time", "Peak memory"];

/** Items with their versions one click away; with `single`, one item's versions only. */
export function UsageTable({ items, single = false }: { items: ItemUsage[]; single?: boolean }) {
  const [open, setOpen] = useState<Record<string, boolean>>({});
  return (
    <div className="card overflow-x-auto">
      <table className="cards w-full min-w-[48rem] text-left text-sm" data-testid="usage-table">
        <caption className="sr-only">Runs, outcomes, run times, CPU time and peak memory {single ? "per version" : "per item"}</caption>
        <TableHead columns={[single ? "Version" : "Item", ...COLUMNS]} />
        <tbody>
          {single
            ? items.flatMap((item) =>
                item.versions.map((v) => (
                  <tr key={v.version} className="border-t border-stone-200 dark:border-stone-800" data-version={v.version}>
                    <td className="px-3 py-1 font-mono">{v.version}</td>
                    <Cells row={v} />
                  </tr>
                )),
              )
            : items.map((item) => (
                <Fragment key={item.item_id}>
                  <tr className="border-t border-stone-200 dark:border-stone-800" data-item-id={item.item_id}>
                    <td className="px-3 py-1">
                      <button
                        type="button"
                        className="link"
                        aria-expanded={Boolean(open[item.item_id])}
                        onClick={() => setOpen((o) => ({ ...o, [item.item_id]: !o[item.item_id] }))}
                      >
                        {open[item.item_id] ? "▾" : "▸"} <span className="font-mono">{item.item_id}</span>
                      </button>{" "}
                      <Link className="link text-xs" to={`/admin/catalog/${encodeURIComponent(item.item_id)}`}>
                        manage
                      </Link>
                    </td>
                    <Cells row={item} />
                  </tr>
                  {open[item.item_id] &&
                    item.versions.map((v) => (
                      <tr key={v.version} className="bg-stone-50 dark:bg-stone-900" data-version={v.version}>
                        <td className="px-3 py-1 pl-8 font-mono text-xs">{v.version}</td>
                        <Cells row={v} />
                      </tr>
                    ))}
                </Fragment>
              ))}
        </tbody>
      </table>
    </div>
  );
}
