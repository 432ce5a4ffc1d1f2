/**
 * One catalog item for its maintainers: every version with its state, reason, channels and actions; what a
 * version changes against another (the review's diff); its tests; its channels' and states' history; who depends
 * on it; and its metadata.
 */
import { useState } from "react";
import { Link, useParams } from "react-router";
import { useMe } from "../../api/auth";
import { useAdminItem, useDependencyGraph, type AdminItemDetail } from "../../api/catalogAdmin";
import { formatBytes } from "../../components/admin/format";
import { DependencyMap } from "../../components/catalogAdmin/DependencyMap";
import { DiffPanel } from "../../components/catalogAdmin/DiffPanel";
import { ItemMetadataForm } from "../../components/catalogAdmin/ItemMetadataForm";
import { TestResults } from "../../components/catalogAdmin/TestResults";
import { LifecycleBadge, stateLabel } from "../../components/catalogAdmin/lifecycle";
import { VersionActions } from "../../components/catalogAdmin/VersionActions";
import { ItemUsagePanel } from "../../components/analytics/ItemUsagePanel";
import { Badge, Empty, Section, Spinner, TableHead, Time } from "../../components/ui";
import { hasRole } from "../../lib/auth";
import { around } from "../../lib/dependencyGraph";
import { errorText } from "../../lib/formErrors";

function Dependencies({ itemId }: { itemId: string }) {
  const graph = useDependencyGraph();
  if (graph.isPending) return <Spinner label="Loading the dependency map" />;
  if (graph.isError) return <p className="text-sm">{errorText(graph.error)}</p>;
  return <DependencyMap edges={around(graph.data.edges, itemId)} focus={itemId} />;
}

function Versions({ item }: { item: AdminItemDetail }) {
  return (
    <div className="card overflow-x-auto">
      <table className="cards w-full min-w-[56rem] text-left text-sm">
        <caption className="sr-only">Versions of {item.id}</caption>
        <TableHead columns={["Version", "State", "Channels", "Imported", "Depends on", null]} />
        <tbody>
          {item.versions.map((v) => (
            <tr key={v.version} className="border-t border-stone-200 align-top dark:border-stone-800" data-version={v.version}>
              <td className="px-3 py-2 font-mono">{v.version}</td>
              <td className="px-3 py-2">
                <LifecycleBadge state={v.state} />
                {v.reason && <p className="max-w-56 text-xs muted">{v.reason}</p>}
                {v.sunset_at && (
                  <p className="text-xs muted">
                    until <Time iso={v.sunset_at} />
                  </p>
                )}
              </td>
              <td className="px-3 py-2 text-xs">{v.channels.join(", ") || <span className="muted">—</span>}</td>
              <td className="px-3 py-2 text-xs">
                {v.imported_by}, <Time iso={v.imported_at} />
                {v.reviewed_by && <p className="muted">reviewed by {v.reviewed_by}</p>}
              </td>
              <td className="px-3 py-2 text-xs">
                {(v.dependencies ?? []).map((d) => (
                  <div key={String(d.item_id)}>
                    {String(d.item_id)} {String(d.range)} → {d.resolved ? String(d.resolved) : <Badge tone="red">missing</Badge>}
                  </div>
                ))}
              </td>
              <td className="px-3 py-2">
                <VersionActions itemId={item.id} version={v} reviewRequired={item.review_required} mayManage={item.may_manage} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default function CatalogItemAdminPage() {
  const { itemId = "" } = useParams();
  const item = useAdminItem(itemId);
  const me = useMe();
  const numbers = item.data?.versions.map((v) => v.version) ?? [];
  const [from, setFrom] = useState<string | null>(null);
  const [to, setTo] = useState<string | null>(null);
  const [tested, setTested] = useState<string | null>(null);
  if (item.isPending) return <Spinner label="Loading the item" />;
  if (item.isError) return <Empty title={`${itemId} could not be loaded`}>{errorText(item.error)}</Empty>;
  const data = item.data;
  // Not picked yet: the version before the newest (an item with one version waits for "nothing" to be picked).
  const left = from === null ? numbers[1] : from || null; // "": compared with nothing
  const right = to ?? numbers[0] ?? null;
  return (
    <section aria-labelledby="item-admin-title">
      <p className="text-sm">
        <Link className="link" to="/admin/catalog">
          Catalog
        </Link>{" "}
        / <span className="font-mono">{data.id}</span>
      </p>
      <h1 id="item-admin-title" className="mb-1 text-2xl font-semibold">
        {data.name}
      </h1>
      <p className="mb-3 text-sm muted">
        {data.review_required ? "New versions wait for a review." : "New versions are active once imported."}{" "}
        {data.tests_required && "Tests must pass before a version is active. "}
        {data.may_manage ? "You manage this item." : "Only its maintainers and admins change it."} Its bundles take{" "}
        {formatBytes(data.storage_bytes)}
        {data.storage_quota_effective > 0 && ` of its ${formatBytes(data.storage_quota_effective)} quota`}.
      </p>
      <Versions item={data} />

      <Section id="diff-title" title="Compare versions">
        <div className="mb-3 flex gap-2 text-sm">
          <select className="input" aria-label="From version" value={left === undefined ? "-" : (left ?? "")} onChange={(e) => setFrom(e.target.value)}>
            {left === undefined && (
              <option value="-" disabled>
                pick
              </option>
            )}
            {numbers.map((n) => (
              <option key={n}>{n}</option>
            ))}
            <option value="">nothing (the whole version)</option>
          </select>
          <span>→</span>
          <select className="input" aria-label="To version" value={right ?? ""} onChange={(e) => setTo(e.target.value)}>
            {numbers.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </div>
        <DiffPanel itemId={data.id} from={left ?? null} to={left === undefined ? null : right} />
      </Section>

      <Section id="tests-title" title="Tests">
        <select className="input mb-2" aria-label="Version whose tests to show" value={tested ?? right ?? ""} onChange={(e) => setTested(e.target.value)}>
          {numbers.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        {(tested ?? right) && <TestResults itemId={data.id} version={tested ?? right ?? ""} />}
      </Section>

      <Section id="dependency-map-title" title="Dependency map">
        <Dependencies itemId={data.id} />
      </Section>

      <Section id="used-by-title" title="Used by">
        {data.used_by.length === 0 ? (
          <p className="text-sm muted">No other item depends on it.</p>
        ) : (
          <ul className="text-sm">
            {data.used_by.map((u) => (
              <li key={`${String(u.item_id)}@${String(u.version)}`}>
                <Link className="link font-mono" to={`/admin/catalog/${encodeURIComponent(String(u.item_id))}`}>
                  {String(u.item_id)}@{String(u.version)}
                </Link>{" "}
                needs {String(u.range)}
              </li>
            ))}
          </ul>
        )}
      </Section>

      {hasRole(me.data?.role, "operator") && (
        <Section id="usage-title" title="Usage (30 days)">
          <ItemUsagePanel itemId={data.id} />
        </Section>
      )}

      <Section id="history-title" title="History">
        <ul className="space-y-1 text-sm">
          {data.history.map((e, i) => (
            <li key={i}>
              <Time iso={e.at} /> · {e.actor}: <span className="font-mono">{e.version}</span> {e.from_state ? stateLabel(e.from_state) : "imported"} →{" "}
              {stateLabel(e.to_state)}
              {e.reason && <span className="muted"> ({e.reason})</span>}
            </li>
          ))}
          {data.channel_history.map((e, i) => (
            <li key={`c${i}`}>
              <Time iso={e.at} /> · {e.actor}: {e.channel} {e.from_version ?? "—"} → {e.to_version ?? "removed"}
            </li>
          ))}
        </ul>
      </Section>

      {data.may_manage && (
        <Section id="metadata-title" title="Metadata">
          <ItemMetadataForm key={data.updated_at} item={data} isAdmin={hasRole(me.data?.role, "admin")} />
        </Section>
      )}
    </section>
  );
}
