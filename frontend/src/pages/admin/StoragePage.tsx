/**
 * Storage (admins): what the catalog stores and costs; the bundle browser (every stored bundle with its size, the
 * item versions that refer to it, the jobs that ran it and when it was last used; a bundle's files, each
 * read-only: text as text, binaries as their size and hash; its download); and the cleanup, preview first.
 */
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { bundleDownloadUrl, useBundleFile, useBundleFiles, useBundles, type BundleFilters, type StoredBundle } from "../../api/storage";
import { formatBytes } from "../../components/admin/format";
import { StorageCleanup } from "../../components/admin/StorageCleanup";
import { StorageSummary } from "../../components/admin/StorageSummary";
import { LifecycleBadge } from "../../components/catalogAdmin/lifecycle";
import type { LifecycleState } from "../../api/catalogAdmin";
import { Empty, Pager, Section, Spinner, TableHead, Time } from "../../components/ui";
import { errorText } from "../../lib/formErrors";

const PAGE_SIZE = 50;

function FileView({ sha256, path }: { sha256: string; path: string }) {
  const file = useBundleFile(sha256, path);
  if (file.isPending) return <Spinner label="Loading the file" />;
  if (file.isError) return <p className="text-sm">{errorText(file.error)}</p>;
  const { size, sha256: digest, text, truncated } = file.data;
  return (
    <div className="text-sm" data-testid="bundle-file">
      <p className="mb-1 text-xs muted">
        <span className="font-mono">{path}</span> · {formatBytes(size)} · sha256 <span className="font-mono">{digest}</span>
      </p>
      {text === null ? (
        <p className="muted">Binary: shown as its size and hash only.</p>
      ) : (
        <>
          <pre tabIndex={0} aria-label={`Content of ${path}`} className="max-h-[32rem] overflow-auto rounded bg-stone-100 p-2 text-xs dark:bg-stone-900">
            {text}
          </pre>
          {truncated && <p className="text-xs muted">Only the first 256 KiB are shown.</p>}
        </>
      )}
    </div>
  );
}

function BundleDetail({ bundle }: { bundle: StoredBundle }) {
  const files = useBundleFiles(bundle.sha256);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <Section
      id="bundle-title"
      title={`Bundle ${bundle.sha256.slice(0, 12)}`}
      actions={
        <a className="btn" href={bundleDownloadUrl(bundle.sha256)} download>
          Download
        </a>
      }
    >
      <p className="mb-2 break-all font-mono text-xs muted">{bundle.sha256}</p>
      {files.isPending ? (
        <Spinner label="Loading its files" />
      ) : files.isError ? (
        <p className="text-sm">{errorText(files.error)}</p>
      ) : (
        <div className="grid gap-4 md:grid-cols-[minmax(12rem,18rem)_1fr]">
          <ul aria-label="Files" className="space-y-0.5 text-sm">
            {files.data.files.map((f) => (
              <li key={f.path}>
                <button type="button" className={`link font-mono text-xs ${open === f.path ? "font-semibold" : ""}`} aria-pressed={open === f.path} onClick={() => setOpen(f.path)}>
                  {f.path}
                </button>{" "}
                <span className="text-xs muted">{formatBytes(f.size)}</span>
              </li>
            ))}
          </ul>
          {open ? <FileView sha256={bundle.sha256} path={open} /> : <p className="text-sm muted">Pick a file to read it.</p>}
        </div>
      )}
    </Section>
  );
}

export default function StoragePage() {
  const [params, setParams] = useSearchParams();
  const filters: BundleFilters = {
    q: params.get("q") ?? "",
    sort: (params.get("sort") as BundleFilters["sort"]) || "created_at",
    order: params.get("order") === "asc" ? "asc" : "desc",
    page: Number(params.get("page")) || 1,
  };
  const [search, setSearch] = useState(filters.q ?? "");
  const [selected, setSelected] = useState<string | null>(null);
  const bundles = useBundles(filters);
  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    setParams(next);
  };
  const total = bundles.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const chosen = bundles.data?.items.find((b) => b.sha256 === selected) ?? null;
  return (
    <section aria-labelledby="storage-title">
      <h1 id="storage-title" className="mb-3 text-2xl font-semibold">
        Storage
      </h1>
      <StorageSummary />
      <h2 className="mb-3 mt-8 text-lg font-semibold">Bundles</h2>
      <form
        className="mb-3 flex flex-wrap items-end gap-2 text-sm"
        onSubmit={(e) => {
          e.preventDefault();
          update({ q: search.trim(), page: "" });
        }}
      >
        <label>
          Search
          <input className="input ml-1" placeholder="sha256 or item" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <label>
          Sort
          <select className="input ml-1" value={`${filters.sort}:${filters.order}`} onChange={(e) => {
              const [sort = "created_at", order = "desc"] = e.target.value.split(":");
              update({ sort, order, page: "" });
            }}
          >
            <option value="created_at:desc">newest first</option>
            <option value="created_at:asc">oldest first</option>
            <option value="size:desc">largest first</option>
            <option value="size:asc">smallest first</option>
          </select>
        </label>
        <button type="submit" className="btn">
          Search
        </button>
      </form>
      {bundles.isPending ? (
        <Spinner label="Loading the bundles" />
      ) : bundles.isError ? (
        <Empty title="The bundles could not be loaded">{errorText(bundles.error)}</Empty>
      ) : bundles.data.items.length === 0 ? (
        <Empty title="No bundle matches">Bundles appear as items are imported.</Empty>
      ) : (
        <div className="card overflow-x-auto">
          <table className="cards w-full min-w-[48rem] text-left text-sm">
            <caption className="sr-only">Bundles</caption>
            <TableHead columns={["Bundle", "Size", "Item versions", "Jobs", "Last used", "Stored"]} />
            <tbody>
              {bundles.data.items.map((b) => (
                <tr key={b.sha256} className="border-t border-stone-200 align-top dark:border-stone-800" data-sha256={b.sha256}>
                  <td className="px-3 py-2">
                    <button type="button" className="link font-mono text-xs" aria-pressed={selected === b.sha256} onClick={() => setSelected(b.sha256)}>
                      {b.sha256.slice(0, 12)}
                    </button>
                  </td>
                  <td className="px-3 py-2">{formatBytes(b.size)}</td>
                  <td className="px-3 py-2 text-xs">
                    {b.references.length === 0 ? (
                      <span className="muted">none</span>
                    ) : (
                      b.references.map((r) => (
                        <div key={`${r.item_id}@${r.version}`}>
                          <Link className="link font-mono" to={`/admin/catalog/${encodeURIComponent(r.item_id)}`}>
                            {r.item_id}@{r.version}
                          </Link>{" "}
                          <LifecycleBadge state={r.state as LifecycleState} />
                        </div>
                      ))
                    )}
                  </td>
                  <td className="px-3 py-2">{b.jobs}</td>
                  <td className="px-3 py-2 text-xs">{b.last_used_at ? <Time iso={b.last_used_at} /> : <span className="muted">never</span>}</td>
                  <td className="px-3 py-2 text-xs">
                    <Time iso={b.created_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager page={filters.page ?? 1} pages={pages} total={total} noun="bundles" onPage={(n) => update({ page: String(n) })} />
      {chosen && <BundleDetail key={chosen.sha256} bundle={chosen} />}
      <Section id="cleanup-title" title="Cleanup">
        <StorageCleanup />
      </Section>
    </section>
  );
}
