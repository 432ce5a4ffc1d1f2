/** The catalog: item cards with search, category and tag filters kept in the URL. */
import { lazy, Suspense, useMemo, useState } from "react";
import { Link } from "react-router";
import { useMe } from "../api/auth";
import { NO_CATALOG_FILTERS, useAllCatalogItems, useCatalogItems } from "../api/catalog";
import type { Item } from "../api/client";
import { SearchBox } from "../components/SearchBox";
import { Empty, Spinner } from "../components/ui";
import { hasRole } from "../lib/auth";
import { describeNetwork } from "../lib/catalog";
import { useUrlState } from "../lib/urlState";

const ImportDialog = lazy(() => import("../components/catalog/ImportDialog"));

function ItemCard({ item }: { item: Item }) {
  return (
    <li className="card flex flex-col p-4 transition hover:border-accent-500 focus-within:border-accent-500">
      <div className="flex items-start justify-between gap-2">
        <h2 className="font-semibold">
          <Link to={`/catalog/${encodeURIComponent(item.id)}`} className="after:absolute after:inset-0 focus:outline-none">
            {item.name}
          </Link>
        </h2>
        {item.latest_version && (
          <span className="shrink-0 rounded bg-stone-100 px-1.5 py-0.5 font-mono text-xs dark:bg-stone-800">
            v{item.latest_version}
          </span>
        )}
      </div>
      <p className="mt-1 line-clamp-3 text-sm muted">{item.description}</p>
      <div className="mt-auto flex flex-wrap gap-1 pt-3 text-xs">
        {item.featured && (
          <span className="rounded-full bg-amber-100 px-2 py-0.5 text-amber-900 dark:bg-amber-900/40 dark:text-amber-100">★ featured</span>
        )}
        {item.category && (
          <span className="rounded-full bg-accent-100 px-2 py-0.5 text-accent-800 dark:bg-accent-800/40 dark:text-accent-100">
            {item.category}
          </span>
        )}
        {describeNetwork(item.network) && (
          <span
            className={`rounded-full px-2 py-0.5 ${item.network_allowed ? "bg-sky-100 text-sky-900 dark:bg-sky-900/40 dark:text-sky-100" : "bg-amber-100 text-amber-900 dark:bg-amber-900/40 dark:text-amber-100"}`}
            title={`Needs ${describeNetwork(item.network)}${item.network_allowed ? "" : " (not allowed by an administrator yet)"}`}
          >
            network{item.network_allowed ? "" : " (not allowed)"}
          </span>
        )}
        {item.tags.map((tag) => (
          <span key={tag} className="rounded-full bg-stone-100 px-2 py-0.5 dark:bg-stone-800">
            #{tag}
          </span>
        ))}
      </div>
    </li>
  );
}

export default function CatalogPage() {
  const [params, update] = useUrlState(NO_CATALOG_FILTERS);
  const [importing, setImporting] = useState(false);
  const me = useMe();

  const items = useCatalogItems(params);
  // The facets come from the whole catalog, so choosing one filter does not hide the other choices.
  const all = useAllCatalogItems();
  const facets = useMemo(() => {
    const categories = new Set<string>();
    const tags = new Set<string>();
    for (const item of all.data?.items ?? []) {
      if (item.category) categories.add(item.category);
      item.tags.forEach((t) => tags.add(t));
    }
    return { categories: [...categories].sort(), tags: [...tags].sort() };
  }, [all.data]);
  const filtered = Boolean(params.q || params.category || params.tag);

  return (
    <section aria-labelledby="catalog-title">
      <div className="mb-4 flex flex-wrap items-end justify-between gap-3">
        <div>
          <h1 id="catalog-title" className="text-2xl font-semibold">
            Catalog
          </h1>
          <p className="text-sm muted">Pick an automation, fill in its form and launch it.</p>
        </div>
        {hasRole(me.data?.role, "publisher") && (
          <button className="btn btn-primary" onClick={() => setImporting(true)}>
            Import…
          </button>
        )}
      </div>
      <div className="mb-4 flex flex-col gap-2 sm:flex-row">
        <SearchBox
          id="catalog-search"
          label="Search the catalog"
          placeholder="Search by name or description"
          className="sm:max-w-sm"
          value={params.q}
          onCommit={(q) => update({ q }, { replace: true })}
        />
        <label className="sr-only" htmlFor="catalog-category">
          Category
        </label>
        <select id="catalog-category" className="input sm:w-48" value={params.category} onChange={(e) => update({ category: e.target.value })}>
          <option value="">All categories</option>
          {facets.categories.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </div>
      {facets.tags.length > 0 && (
        <div className="mb-5 flex flex-wrap gap-1.5" role="group" aria-label="Filter by tag">
          {facets.tags.map((tag) => {
            const active = params.tag === tag;
            return (
              <button
                key={tag}
                aria-pressed={active}
                onClick={() => update({ tag: active ? "" : tag })}
                className={`rounded-full border px-2.5 py-0.5 text-xs ${
                  active
                    ? "border-accent-700 bg-accent-700 text-white"
                    : "border-stone-300 hover:border-accent-600 dark:border-stone-700"
                }`}
              >
                #{tag}
              </button>
            );
          })}
        </div>
      )}
      {items.isPending ? (
        <Spinner label="Loading the catalog" />
      ) : items.isError ? (
        <Empty title="The catalog could not be loaded">{items.error.message}</Empty>
      ) : items.data.items.length === 0 ? (
        <Empty title={filtered ? "No item matches these filters" : "The catalog is empty"}>
          {filtered ? (
            <button className="link" onClick={() => update(NO_CATALOG_FILTERS)}>
              Clear the filters
            </button>
          ) : (
            "A publisher can import items from a folder, a Git repository or a bundle."
          )}
        </Empty>
      ) : (
        <>
          <p className="mb-2 text-sm muted" aria-live="polite">
            {items.data.total} {items.data.total === 1 ? "item" : "items"}
          </p>
          <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3 [&>li]:relative">
            {items.data.items.map((item) => (
              <ItemCard key={item.id} item={item} />
            ))}
          </ul>
        </>
      )}
      {importing && (
        <Suspense fallback={null}>
          <ImportDialog onClose={() => setImporting(false)} />
        </Suspense>
      )}
    </section>
  );
}
