/**
 * Catalog administration: every item whatever the state of its versions, searched, filtered, sorted and paged in
 * the URL, with its version states, channels and the runs of the last 30 days; selected items get a bulk action
 * on the version each one names (its latest, a channel's, or a number). Publishers manage the items they
 * maintain, admins every item: the server decides, the page offers what `may_manage` allows. Below the table, the
 * whole catalog's dependency map, loaded when opened, and (for admins) the catalog's export and import.
 */
import { useState } from "react";
import { Link } from "react-router";
import { useAdminItems, useDependencyGraph, type AdminItem, type ItemFilters } from "../../api/catalogAdmin";
import { useMe } from "../../api/auth";
import { BulkBar, type Target } from "../../components/catalogAdmin/BulkBar";
import { CatalogTransfer } from "../../components/catalogAdmin/CatalogTransfer";
import { DependencyMap } from "../../components/catalogAdmin/DependencyMap";
import { LifecycleBadge, STATES, stateLabel } from "../../components/catalogAdmin/lifecycle";
import { SearchBox } from "../../components/SearchBox";
import { Badge, Empty, Pager, Spinner, TableHead, Time } from "../../components/ui";
import { hasRole } from "../../lib/auth";
import { useUrlState } from "../../lib/urlState";
import { errorText } from "../../lib/formErrors";

const DEFAULTS = { q: "", state: "", owner: "", tag: "", category: "", sort: "name", order: "asc", page: "1" };
const PAGE_SIZE = 50;

function WholeMap() {
  const [open, setOpen] = useState(false);
  const graph = useDependencyGraph(open);
  return (
    <details className="mt-6" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary className="cursor-pointer text-lg font-semibold">Dependency map</summary>
      {open && graph.isPending && <Spinner label="Loading the dependency map" />}
      {graph.isError && <p className="text-sm">{errorText(graph.error)}</p>}
      {graph.data && <DependencyMap edges={graph.data.edges} />}
    </details>
  );
}

/** Which version of each selected item a bulk action acts on. */
type Pick = "latest" | "stable" | "number";

function versionOf(item: AdminItem, pick: Pick, number: string): string | null {
  if (pick === "number") return number.trim() || null;
  return item.channels[pick] ?? null;
}

function States({ item }: { item: AdminItem }) {
  const entries = STATES.filter((s) => item.states[s]).map((s) => [s, item.states[s]] as const);
  return (
    <div className="flex flex-wrap gap-1">
      {entries.map(([state, n]) => (
        <LifecycleBadge key={state} state={state} title={`${n} version(s) ${stateLabel(state)}`} />
      ))}
    </div>
  );
}

export default function CatalogAdminPage() {
  const [params, update] = useUrlState(DEFAULTS);
  const filters: ItemFilters = {
    ...params,
    sort: params.sort as ItemFilters["sort"],
    order: params.order as ItemFilters["order"],
    page: Number(params.page) || 1,
  };
  const items = useAdminItems(filters);
  const me = useMe();
  const [selected, setSelected] = useState<Record<string, AdminItem>>({});
  const [pick, setPick] = useState<Pick>("latest");
  const [number, setNumber] = useState("");
  const rows = items.data?.items ?? [];
  const total = items.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const chosen = Object.values(selected);
  const targets: Target[] = chosen.map((item) => ({ item_id: item.id, version: versionOf(item, pick, number) }));
  const toggle = (item: AdminItem) =>
    setSelected((current) => {
      const next = { ...current };
      if (next[item.id]) delete next[item.id];
      else next[item.id] = item;
      return next;
    });

  return (
    <section aria-labelledby="catalog-admin-title">
      <div className="mb-2 flex flex-wrap items-end justify-between gap-2">
        <h1 id="catalog-admin-title" className="text-2xl font-semibold">
          Catalog
        </h1>
        {items.isFetching && !items.isPending && <Spinner label="Updating" />}
      </div>
      <div className="mb-3 flex flex-wrap items-end gap-2">
        <SearchBox id="catalog-admin-search" label="Search items" placeholder="Id, name or description" value={params.q} onCommit={(q) => update({ q }, { replace: true })} />
        <select className="input" aria-label="State" value={params.state} onChange={(e) => update({ state: e.target.value })}>
          <option value="">Any state</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              has {stateLabel(s)}
            </option>
          ))}
        </select>
        <input className="input w-36" aria-label="Owner or maintainer" placeholder="Owner" value={params.owner} onChange={(e) => update({ owner: e.target.value }, { replace: true })} />
        <input className="input w-28" aria-label="Tag" placeholder="Tag" value={params.tag} onChange={(e) => update({ tag: e.target.value }, { replace: true })} />
        <input className="input w-32" aria-label="Category" placeholder="Category" value={params.category} onChange={(e) => update({ category: e.target.value }, { replace: true })} />
        <select
          className="input"
          aria-label="Sort"
          value={`${params.sort}:${params.order}`}
          onChange={(e) => {
            const [sort, order] = e.target.value.split(":");
            update({ sort, order });
          }}
        >
          <option value="name:asc">Name</option>
          <option value="id:asc">Id</option>
          <option value="updated_at:desc">Recently changed</option>
        </select>
      </div>
      {chosen.length > 0 && (
        <>
          <div className="mb-2 flex flex-wrap items-center gap-2 text-sm">
            <span>Act on each selected item&apos;s</span>
            <select className="input" aria-label="Version to act on" value={pick} onChange={(e) => setPick(e.target.value as Pick)}>
              <option value="latest">latest version</option>
              <option value="stable">stable version</option>
              <option value="number">version number…</option>
            </select>
            {pick === "number" && <input className="input w-28" aria-label="Version number" value={number} onChange={(e) => setNumber(e.target.value)} />}
          </div>
          <BulkBar targets={targets} onDone={() => setSelected({})} />
        </>
      )}
      {items.isPending ? (
        <Spinner label="Loading the catalog" />
      ) : items.isError ? (
        <Empty title="The catalog could not be loaded">{errorText(items.error)}</Empty>
      ) : rows.length === 0 ? (
        <Empty title="No item matches" />
      ) : (
        <div className="card overflow-x-auto">
          <table className="cards w-full min-w-[64rem] text-left text-sm">
            <caption className="sr-only">Catalog items, {total} in all</caption>
            <TableHead columns={["", "Item", "States", "Channels", "Owner", "Last run", "Runs (30 d)", "Success"]} />
            <tbody>
              {rows.map((item) => (
                <tr key={item.id} className="border-t border-stone-200 align-top dark:border-stone-800" data-item-id={item.id}>
                  <td className="px-3 py-2">
                    <input
                      type="checkbox"
                      aria-label={`Select ${item.id}`}
                      disabled={!item.may_manage}
                      checked={Boolean(selected[item.id])}
                      onChange={() => toggle(item)}
                    />
                  </td>
                  <td className="px-3 py-2">
                    <Link className="link font-medium" to={`/admin/catalog/${encodeURIComponent(item.id)}`}>
                      {item.name}
                    </Link>
                    <p className="font-mono text-xs muted">{item.id}</p>
                    {item.pending_reviews > 0 && <Badge tone="amber">{item.pending_reviews} to review</Badge>}
                  </td>
                  <td className="px-3 py-2">
                    <States item={item} />
                  </td>
                  <td className="px-3 py-2 text-xs">
                    {Object.entries(item.channels).map(([name, version]) => (
                      <div key={name}>
                        <span className="font-medium">{name}</span> {version}
                      </div>
                    ))}
                  </td>
                  <td className="px-3 py-2 text-xs">
                    {item.owner ?? <span className="muted">—</span>}
                    {item.maintainers.length > 0 && <p className="muted">{item.maintainers.join(", ")}</p>}
                  </td>
                  <td className="px-3 py-2 whitespace-nowrap">{item.last_run_at ? <Time iso={item.last_run_at} /> : <span className="muted">never</span>}</td>
                  <td className="px-3 py-2 tabular-nums">{item.runs_30d}</td>
                  <td className="px-3 py-2 tabular-nums">
                    {item.success_rate_30d === null ? <span className="muted">—</span> : `${Math.round(item.success_rate_30d * 100)} %`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={filters.page ?? 1} pages={pages} total={total} noun="items" onPage={(n) => update({ page: String(n) })} />
      <WholeMap />
      {hasRole(me.data?.role, "admin") && <CatalogTransfer />}
    </section>
  );
}
