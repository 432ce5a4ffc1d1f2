/**
 * What the catalog stores and costs: figures (bundles and bytes by store, quota, what deduplication saves, what a
 * cleanup would free, this node's cache), growth by day as a chart, and the items that take the most with each
 * version's bundle.
 */
import { Link } from "react-router";
import { useStorageSummary, type StorageSummary as Summary } from "../../api/storage";
import { errorText } from "../../lib/formErrors";
import { Spinner, TableHead } from "../ui";
import { formatBytes } from "./format";

function Figure({ value, label }: { value: string; label: string }) {
  return (
    <div className="card p-3">
      <p className="text-xl font-semibold tabular-nums">{value}</p>
      <p className="text-xs muted">{label}</p>
    </div>
  );
}

function GrowthChart({ growth }: { growth: Summary["growth"] }) {
  if (growth.length === 0) return <p className="text-sm muted">Nothing stored in the last 90 days.</p>;
  const max = Math.max(1, ...growth.map((g) => g.total));
  const step = 600 / Math.max(1, growth.length - 1);
  const points = growth.map((g, i) => `${(i * step).toFixed(1)},${(100 - (g.total / max) * 96).toFixed(1)}`);
  const last = growth[growth.length - 1];
  return (
    <figure>
      <svg viewBox="0 0 600 100" preserveAspectRatio="none" className="h-28 w-full" role="img" aria-label={`Stored bytes over the last 90 days, ${formatBytes(last?.total)} now`}>
        <polyline points={`0,100 ${points.join(" ")} 600,100`} className="fill-accent-100 stroke-none dark:fill-stone-800" />
        <polyline points={points.join(" ")} className="fill-none stroke-accent-600" strokeWidth={2} vectorEffect="non-scaling-stroke" />
        {growth.map((g, i) => (
          <circle key={g.day} cx={i * step} cy={100 - (g.total / max) * 96} r={3} className="fill-accent-600" vectorEffect="non-scaling-stroke">
            <title>{`${g.day}: +${formatBytes(g.bytes)}, ${formatBytes(g.total)} in all`}</title>
          </circle>
        ))}
      </svg>
      <figcaption className="mt-1 flex justify-between text-xs muted">
        <span>{growth[0]?.day}</span>
        <span>growth of the bundles still stored</span>
        <span>{last?.day}</span>
      </figcaption>
    </figure>
  );
}

export function StorageSummary() {
  const summary = useStorageSummary();
  if (summary.isPending) return <Spinner label="Loading the storage figures" />;
  if (summary.isError) return <p className="text-sm">{errorText(summary.error)}</p>;
  const s = summary.data;
  return (
    <div className="space-y-4" data-testid="storage-summary">
      <div className="grid grid-cols-2 gap-2 md:grid-cols-4">
        <Figure value={formatBytes(s.bytes)} label={`${s.bundles} bundles in the ${s.store} store`} />
        <Figure value={s.quota_bytes > 0 ? `${Math.round((s.bytes / s.quota_bytes) * 100)}%` : "none"} label={s.quota_bytes > 0 ? `of the ${formatBytes(s.quota_bytes)} quota` : "storage quota"} />
        <Figure value={formatBytes(s.saved_bytes)} label="saved by deduplication" />
        <Figure value={formatBytes(s.orphaned_bytes)} label={`${s.orphaned_bundles} orphaned bundles (a cleanup frees them)`} />
        <Figure value={formatBytes(s.cache_bytes)} label={`${s.cache_entries} bundles extracted on this node`} />
      </div>
      <GrowthChart growth={s.growth} />
      {s.items.length > 0 && (
        <div className="card max-h-96 overflow-auto">
          <table className="cards w-full text-left text-sm">
            <caption className="sr-only">Items whose bundles take the most</caption>
            <TableHead columns={["Item", "Bundles", "Versions"]} />
            <tbody>
              {s.items.map((item) => (
                <tr key={item.item_id} className="border-t border-stone-200 align-top dark:border-stone-800">
                  <td className="px-3 py-1">
                    <Link className="link font-mono" to={`/admin/catalog/${encodeURIComponent(item.item_id)}`}>
                      {item.item_id}
                    </Link>
                  </td>
                  <td className="px-3 py-1 tabular-nums">{formatBytes(item.bytes)}</td>
                  <td className="px-3 py-1 text-xs">
                    {item.versions.map((v) => `${v.version} ${formatBytes(v.size)}`).join(" · ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {s.items_total > s.items.length && <p className="p-2 text-xs muted">The {s.items.length} largest of {s.items_total} items.</p>}
        </div>
      )}
    </div>
  );
}
