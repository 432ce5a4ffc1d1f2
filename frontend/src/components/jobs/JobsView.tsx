/**
 * Every job the user may see: filters, debounced search, sort and paging in the URL, rows kept live by the
 * app's WebSocket (no refetch per update), with retry and cancel where allowed.
 */
import { useWindowVirtualizer } from "@tanstack/react-virtual";
import { lazy, memo, Suspense, useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { useMe } from "../../api/auth";
import { useAllCatalogItems } from "../../api/catalog";
import { ApiError, type Job } from "../../api/client";
import { useJobs, type JobListParams } from "../../api/jobs";
import { hasRole } from "../../lib/auth";
import { useUrlState } from "../../lib/urlState";
import { SearchBox } from "../SearchBox";
import { Empty, JOB_KINDS, JOB_STATES, kindLabel, ProgressBar, Spinner, StateBadge, stateLabel, Time } from "../ui";
import { AdminJobActions, JobActions } from "./JobActions";

// The admin monitor's parts load with it, not with the requesters' jobs page.
const BulkBar = lazy(() => import("./JobsMonitorParts").then((m) => ({ default: m.BulkBar })));
const JobDrawer = lazy(() => import("./JobsMonitorParts").then((m) => ({ default: m.JobDrawer })));

const DEFAULTS = { state: "", kind: "", item_id: "", q: "", page: "1", page_size: "50", sort: "-id" };
const PAGE_SIZES = ["25", "50", "100", "200"];
const SORTABLE: [string, string][] = [
  ["id", "Job"],
  ["item_id", "Item"],
  ["state", "State"],
  ["progress", "Progress"],
  ["created_at", "Created"],
  ["updated_at", "Updated"],
];

/** Re-renders every `ms` so relative times stay true without touching the data. */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** Rows are about this tall; the virtualizer measures the real height of each row it renders. */
const ROW_ESTIMATE_PX = 58;

/** What the admin monitor adds to each row: a selection box and a detail drawer. */
interface AdminRowProps {
  selected: boolean;
  onToggle: (id: number) => void;
  onOpen: (id: number) => void;
}

const JobRow = memo(function JobRow({
  job,
  index,
  measure,
  admin,
}: {
  job: Job;
  index: number;
  measure: (row: HTMLTableRowElement | null) => void;
  now: number;
  admin?: AdminRowProps;
}) {
  return (
    <tr
      ref={measure}
      data-index={index}
      aria-rowindex={index + 2}
      aria-selected={admin ? admin.selected : undefined}
      className="border-t border-stone-200 dark:border-stone-800"
      data-job-id={job.id}
      data-state={job.state}
    >
      {admin && (
        <td className="px-3 py-2">
          <input
            type="checkbox"
            className="accent-accent-600"
            checked={admin.selected}
            onChange={() => admin.onToggle(job.id)}
            aria-label={`Select job ${job.id}`}
          />
        </td>
      )}
      <td className="px-3 py-2 font-mono">
        <Link to={`/jobs/${job.id}`} className="link">
          #{job.id}
        </Link>
        {admin && (
          <button className="ml-1 text-xs muted hover:underline" onClick={() => admin.onOpen(job.id)} aria-label={`Details of job ${job.id}`}>
            details
          </button>
        )}
      </td>
      <td className="truncate px-3 py-2" data-kind={job.kind}>
        {kindLabel(job.kind)}
      </td>
      <td className="truncate px-3 py-2" title={`${job.item_id} ${job.item_version}`}>
        {job.item_id} <span className="muted">{job.item_version}</span>
      </td>
      <td className="px-3 py-2">
        <StateBadge state={job.state} />
        {job.retried_as != null && (
          <Link to={`/jobs/${job.retried_as}`} className="link mt-0.5 block text-xs" data-retried-as={job.retried_as}>
            retried as #{job.retried_as}
          </Link>
        )}
      </td>
      <td className="px-3 py-2">
        <ProgressBar value={job.progress} running={job.state === "RUNNING"} state={job.state} label={`Progress of job ${job.id}`} />
        <span className="mt-0.5 block truncate text-xs muted" title={job.message}>
          {job.progress}% {job.message}
        </span>
      </td>
      <td className="truncate px-3 py-2">{job.created_by_name}</td>
      <td className="px-3 py-2 whitespace-nowrap">
        <Time iso={job.created_at} />
      </td>
      <td className="px-3 py-2 whitespace-nowrap">
        <Time iso={job.updated_at} />
      </td>
      <td className="px-3 py-2">{admin ? <AdminJobActions job={job} /> : <JobActions job={job} compact />}</td>
    </tr>
  );
});

/** One of the table's filters: a select with a label for screen readers, options as [value, label]. */
function FilterSelect({ id, label, value, onChange, options }: { id: string; label: string; value: string; onChange: (value: string) => void; options: [string, string][] }) {
  return (
    <div>
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <select id={id} className="input" value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map(([optionValue, optionLabel]) => (
          <option key={optionValue} value={optionValue}>
            {optionLabel}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The jobs table; in the admin monitor (`admin`) with selection, bulk actions, operator actions and a drawer. */
export function JobsView({ admin }: { admin: boolean }) {
  const [params, update] = useUrlState(DEFAULTS);
  const [selected, setSelected] = useState<Set<number>>(() => new Set());
  const [drawer, setDrawer] = useState<number | null>(null);
  const toggle = useCallback(
    (id: number) =>
      setSelected((current) => {
        const next = new Set(current);
        if (!next.delete(id)) next.add(id);
        return next;
      }),
    [],
  );
  const now = useNow(30_000);
  const listParams: JobListParams = {
    state: params.state,
    kind: params.kind,
    item_id: params.item_id,
    q: params.q,
    page: Math.max(1, Number(params.page) || 1),
    page_size: Number(params.page_size) || 50,
    sort: params.sort,
  };
  const jobs = useJobs(listParams);
  const items = useAllCatalogItems();
  const me = useMe();

  const pages = jobs.data ? Math.max(1, Math.ceil(jobs.data.total / jobs.data.page_size)) : 1;
  const sortBy = (key: string) => update({ sort: params.sort === `-${key}` ? key : `-${key}` });
  const filtered = Boolean(params.state || params.kind || params.item_id || params.q);

  return (
    <section aria-labelledby="jobs-title">
      <div className="mb-4 flex flex-wrap items-end justify-between gap-2">
        <h1 id="jobs-title" className="text-2xl font-semibold">
          {admin ? "Jobs monitor" : "Jobs"}
        </h1>
        {jobs.isFetching && !jobs.isPending && <Spinner label="Updating" />}
      </div>
      <div className="mb-4 grid gap-2 sm:grid-cols-[1fr_auto_auto_auto]">
        <div>
          <SearchBox
            id="jobs-search"
            label="Search jobs"
            placeholder="Search by job id, item or user"
            value={params.q}
            onCommit={(q) => update({ q }, { replace: true })}
          />
        </div>
        <FilterSelect
          id="jobs-state"
          label="State"
          value={params.state}
          onChange={(state) => update({ state })}
          options={[["", "All states"], ["PENDING_APPROVAL,QUEUED,RUNNING", "Active"], ...JOB_STATES.map((s): [string, string] => [s, stateLabel(s)])]}
        />
        <FilterSelect id="jobs-kind" label="Type" value={params.kind} onChange={(kind) => update({ kind })} options={[["", "All types"], ...JOB_KINDS]} />
        <FilterSelect
          id="jobs-item"
          label="Item"
          value={params.item_id}
          onChange={(item_id) => update({ item_id })}
          options={[["", "All items"], ...(items.data?.items ?? []).map((item): [string, string] => [item.id, item.name])]}
        />
      </div>
      {jobs.isPending ? (
        <Spinner label="Loading jobs" />
      ) : jobs.isError ? (
        <Empty title="The jobs could not be loaded">
          {jobs.error instanceof ApiError && jobs.error.status === 403 ? "Your role may not see jobs." : jobs.error.message}
        </Empty>
      ) : jobs.data.items.length === 0 && jobs.data.total > 0 ? (
        <Empty title={`There is no page ${listParams.page}`}>
          <button className="link" onClick={() => update({ page: "1" })}>
            Go to the first page
          </button>
        </Empty>
      ) : jobs.data.items.length === 0 ? (
        <Empty title={filtered ? "No job matches these filters" : "No jobs yet"}>
          {filtered ? (
            <button className="link" onClick={() => update({ state: "", kind: "", item_id: "", q: "" })}>
              Clear the filters
            </button>
          ) : hasRole(me.data?.role, "requester") ? (
            <Link to="/catalog" className="link">
              Launch one from the catalog
            </Link>
          ) : (
            "Your role may browse the catalog; a requester or higher runs its items."
          )}
        </Empty>
      ) : (
        <>
          {admin && selected.size > 0 && (
            <Suspense fallback={null}>
              <BulkBar selected={selected} jobs={jobs.data.items} onDone={() => setSelected(new Set())} />
            </Suspense>
          )}
          <div className="card relative overflow-x-auto">
            {/* A fixed layout: a live update re-lays out its own row, not every row of a long table. */}
            <table className="cards w-full min-w-[61rem] table-fixed text-left text-sm" aria-rowcount={jobs.data.items.length + 1}>
              <colgroup>
                {admin && <col className="w-10" />}
                <col className={admin ? "w-28" : "w-20"} />
                <col className="w-20" />
                <col className="w-56" />
                <col className="w-32" />
                <col className="w-44" />
                <col className="w-28" />
                <col className="w-32" />
                <col className="w-32" />
                <col className="w-40" />
              </colgroup>
              <caption className="sr-only">Jobs, {jobs.data.total} in all</caption>
              <thead className="bg-stone-100 text-xs uppercase tracking-wide text-stone-600 dark:bg-stone-800 dark:text-stone-300">
                <tr aria-rowindex={1}>
                  {admin && (
                    <th scope="col" className="px-3 py-2">
                      <input
                        type="checkbox"
                        className="accent-accent-600"
                        aria-label="Select every job on this page"
                        checked={jobs.data.items.length > 0 && jobs.data.items.every((j) => selected.has(j.id))}
                        onChange={(e) => setSelected(e.target.checked ? new Set(jobs.data.items.map((j) => j.id)) : new Set())}
                      />
                    </th>
                  )}
                  <SortHeader sortKey="id" label="Job" sort={params.sort} onSort={sortBy} />
                  <th scope="col" className="px-3 py-2">
                    Type
                  </th>
                  {SORTABLE.slice(1, 4).map(([key, label]) => (
                    <SortHeader key={key} sortKey={key} label={label} sort={params.sort} onSort={sortBy} />
                  ))}
                  <th scope="col" className="px-3 py-2">
                    User
                  </th>
                  {SORTABLE.slice(4).map(([key, label]) => (
                    <SortHeader key={key} sortKey={key} label={label} sort={params.sort} onSort={sortBy} />
                  ))}
                  <th scope="col" className="px-3 py-2">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <JobRows jobs={jobs.data.items} now={now} admin={admin ? { selected, onToggle: toggle, onOpen: setDrawer } : undefined} />
            </table>
          </div>
          <nav aria-label="Pagination" className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
            <span className="muted" aria-live="polite">
              {jobs.data.total.toLocaleString()} {jobs.data.total === 1 ? "job" : "jobs"} · page {listParams.page} of {pages}
            </span>
            <div className="flex items-center gap-2">
              <label htmlFor="page-size" className="muted">
                Per page
              </label>
              <select id="page-size" className="input w-20" value={params.page_size} onChange={(e) => update({ page_size: e.target.value })}>
                {(PAGE_SIZES.includes(params.page_size) ? PAGE_SIZES : [...PAGE_SIZES, params.page_size]).map((size) => (
                  <option key={size}>{size}</option>
                ))}
              </select>
              <button className="btn" disabled={listParams.page <= 1} onClick={() => update({ page: String(listParams.page - 1) })}>
                Previous
              </button>
              <button className="btn" disabled={listParams.page >= pages} onClick={() => update({ page: String(listParams.page + 1) })}>
                Next
              </button>
            </div>
          </nav>
        </>
      )}
      {drawer !== null && (
        <Suspense fallback={null}>
          <JobDrawer jobId={drawer} onClose={() => setDrawer(null)} />
        </Suspense>
      )}
    </section>
  );
}

/**
 * The table body, virtualized against the window's scroll: only the rows on screen (and a margin) are in the
 * document, so a page of 1,000 jobs with live updates lays out and paints a few dozen rows, not a thousand.
 */
function JobRows({
  jobs,
  now,
  admin,
}: {
  jobs: Job[];
  now: number;
  admin?: { selected: Set<number>; onToggle: (id: number) => void; onOpen: (id: number) => void };
}) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [offset, setOffset] = useState(0);
  // Where the table starts in the page: it moves when the filters wrap or anything above changes height.
  useLayoutEffect(() => {
    const measure = () => {
      if (body.current) setOffset(body.current.getBoundingClientRect().top + window.scrollY);
    };
    measure();
    const observer = new ResizeObserver(measure);
    const main = document.getElementById("main");
    if (main) observer.observe(main);
    window.addEventListener("resize", measure);
    return () => {
      observer.disconnect();
      window.removeEventListener("resize", measure);
    };
  }, []);
  const virtualizer = useWindowVirtualizer({
    count: jobs.length,
    estimateSize: () => ROW_ESTIMATE_PX,
    overscan: 12,
    scrollMargin: offset,
    getItemKey: (index) => jobs[index]?.id ?? index,
  });
  const rows = virtualizer.getVirtualItems();
  const before = rows.length ? rows[0]!.start - offset : 0;
  const after = rows.length ? virtualizer.getTotalSize() - (rows[rows.length - 1]!.end - offset) : 0;
  return (
    <tbody ref={body}>
      {before > 0 && (
        <tr aria-hidden style={{ height: before }}>
          <td colSpan={admin ? 10 : 9} />
        </tr>
      )}
      {rows.map((row) => {
        const job = jobs[row.index]!;
        const rowAdmin = admin && { selected: admin.selected.has(job.id), onToggle: admin.onToggle, onOpen: admin.onOpen };
        return (
          <JobRow
            key={job.id}
            job={job}
            index={row.index}
            measure={virtualizer.measureElement}
            now={now}
            admin={rowAdmin || undefined}
          />
        );
      })}
      {after > 0 && (
        <tr aria-hidden style={{ height: after }}>
          <td colSpan={admin ? 10 : 9} />
        </tr>
      )}
    </tbody>
  );
}

function SortHeader({ sortKey, label, sort, onSort }: { sortKey: string; label: string; sort: string; onSort: (key: string) => void }) {
  const direction = sort === sortKey ? "ascending" : sort === `-${sortKey}` ? "descending" : "none";
  return (
    <th scope="col" className="px-3 py-2" aria-sort={direction}>
      <button className="inline-flex items-center gap-1 uppercase hover:text-accent-700" onClick={() => onSort(sortKey)}>
        {label}
        <span aria-hidden>{direction === "ascending" ? "▲" : direction === "descending" ? "▼" : ""}</span>
      </button>
    </th>
  );
}
