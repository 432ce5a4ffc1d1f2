/**
 * Analytics: how the catalog is used over a chosen period (in the URL): runs, success rates, run time
 * percentiles, CPU time and peak memory per item and version, with the busiest items as a chart; an item's version
 * adoption by day; the most and least used items and those nobody ran lately; failures grouped by type and
 * message with sample jobs; failed import attempts with their problems (publishers). Charts load on demand.
 */
import { lazy, Suspense, useMemo, useState } from "react";
import { Link } from "react-router";
import {
  lastDays,
  useAdoption,
  useErrorAnalytics,
  useImportFailures,
  useItemAnalytics,
  useUsageRanking,
  type ErrorGroup,
  type Period,
  type UsageRanking,
} from "../../api/analytics";
import { useMe } from "../../api/auth";
import { UsageTable } from "../../components/analytics/UsageTable";
import { Empty, Pager, Spinner, TableHead, Time } from "../../components/ui";
import { hasRole } from "../../lib/auth";
import { errorText } from "../../lib/formErrors";
import { useUrlState } from "../../lib/urlState";

const Charts = {
  Adoption: lazy(() => import("../../components/analytics/Charts").then((m) => ({ default: m.AdoptionChart }))),
  Runs: lazy(() => import("../../components/analytics/Charts").then((m) => ({ default: m.RunsChart }))),
};
const DEFAULTS = { days: "30", item: "", unused: "30" };
const PERIODS = ["7", "30", "90", "365"];

function Section({ title, id, children }: { title: string; id?: string; children: React.ReactNode }) {
  return (
    <section className="mt-6" aria-label={title} id={id}>
      <h2 className="mb-2 text-lg font-semibold">{title}</h2>
      {children}
    </section>
  );
}

function Ranking({ ranking }: { ranking: UsageRanking }) {
  const list = (entries: UsageRanking["most_used"], empty: string) =>
    entries.length === 0 ? (
      <p className="text-sm muted">{empty}</p>
    ) : (
      <ol className="space-y-1 text-sm">
        {entries.map((e) => (
          <li key={e.item_id} className="flex justify-between gap-2">
            <Link className="link" to={`/admin/catalog/${encodeURIComponent(e.item_id)}`}>
              {e.name}
            </Link>
            <span className="tabular-nums muted">{e.runs}</span>
          </li>
        ))}
      </ol>
    );
  return (
    <div className="grid gap-4 md:grid-cols-3">
      <div className="card p-3">
        <h3 className="mb-1 font-medium">Most used</h3>
        {list(ranking.most_used, "No runs in this period.")}
      </div>
      <div className="card p-3">
        <h3 className="mb-1 font-medium">Least used</h3>
        {list(ranking.least_used, "No runs in this period.")}
      </div>
      <div className="card p-3" data-testid="unused-items">
        <h3 className="mb-1 font-medium">Not run in {ranking.unused_days} days</h3>
        {ranking.unused.length === 0 ? (
          <p className="text-sm muted">Every item ran.</p>
        ) : (
          <ul className="space-y-1 text-sm">
            {ranking.unused.map((e) => (
              <li key={e.item_id} className="flex justify-between gap-2">
                <Link className="link" to={`/admin/catalog/${encodeURIComponent(e.item_id)}`}>
                  {e.name}
                </Link>
                <span className="muted text-xs">{e.last_run_at ? `last ${new Date(e.last_run_at).toLocaleDateString(undefined, { timeZone: "UTC" })}` : "never"}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

function Errors({ groups }: { groups: ErrorGroup[] }) {
  if (groups.length === 0) return <p className="text-sm muted">No failures in this period.</p>;
  return (
    <div className="card overflow-x-auto">
      <table className="cards w-full min-w-[48rem] text-left text-sm" data-testid="error-groups">
        <caption className="sr-only">Failures grouped by type and message</caption>
        <TableHead columns={["Failure", "Count", "Items", "First", "Latest", "Sample jobs"]} />
        <tbody>
          {groups.map((g) => (
            <tr key={`${g.type}:${g.message}`} className="border-t border-stone-200 align-top dark:border-stone-800">
              <td className="max-w-md px-3 py-1">
                <span className="font-medium">{g.type}</span>
                <p className="break-words text-xs muted" title={g.message}>
                  {g.example || g.message}
                </p>
              </td>
              <td className="px-3 py-1 tabular-nums">{g.count}</td>
              <td className="px-3 py-1 font-mono text-xs">{g.items.join(", ")}</td>
              <td className="px-3 py-1 whitespace-nowrap">
                <Time iso={g.first_at} />
              </td>
              <td className="px-3 py-1 whitespace-nowrap">
                <Time iso={g.last_at} />
              </td>
              <td className="px-3 py-1">
                {g.sample_jobs.map((id) => (
                  <Link key={id} className="link mr-2" to={`/jobs/${id}`}>
                    #{id}
                  </Link>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function FailedImports() {
  const [page, setPage] = useState(1);
  const failures = useImportFailures(page);
  if (failures.isPending) return <Spinner label="Loading failed imports" />;
  if (failures.isError) return <p className="text-sm">{errorText(failures.error)}</p>;
  const { items, total } = failures.data;
  if (total === 0) return <p className="text-sm muted">No import has failed.</p>;
  return (
    <>
      <div className="card overflow-x-auto">
        <table className="cards w-full min-w-[48rem] text-left text-sm" data-testid="import-failures">
          <caption className="sr-only">Failed import attempts, newest first</caption>
          <TableHead columns={["When", "Source", "What", "By", "Problem"]} />
          <tbody>
            {items.map((f) => (
              <tr key={f.id} className="border-t border-stone-200 align-top dark:border-stone-800">
                <td className="px-3 py-1 whitespace-nowrap">
                  <Time iso={f.at} />
                </td>
                <td className="px-3 py-1">{f.source}</td>
                <td className="px-3 py-1 font-mono text-xs break-all">{f.item_id ? `${f.item_id}${f.version ? ` ${f.version}` : ""}: ` : ""}{f.target}</td>
                <td className="px-3 py-1">{f.actor}</td>
                <td className="px-3 py-1">
                  {f.message}
                  {Array.isArray(f.problems) && (
                    <ul className="mt-1 list-disc pl-5 text-xs muted">
                      {(f.problems as Record<string, unknown>[]).slice(0, 5).map((p, i) => (
                        <li key={i}>
                          {[p.file ?? p.field, p.line].filter(Boolean).join(":")} {String(p.message ?? "")}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={page} pages={Math.max(1, Math.ceil(total / 20))} total={total} noun="attempts" onPage={setPage} />
    </>
  );
}

export default function AnalyticsPage() {
  const [params, update] = useUrlState(DEFAULTS);
  const me = useMe();
  const period: Period = useMemo(() => lastDays(Number(params.days) || 30), [params.days]);
  const items = useItemAnalytics(period);
  const errors = useErrorAnalytics(period);
  const ranking = useUsageRanking(period, Number(params.unused) || 30);
  const chosen = params.item || items.data?.items[0]?.item_id || null;
  const adoption = useAdoption(chosen, period);
  return (
    <section aria-labelledby="analytics-title">
      <div className="mb-2 flex flex-wrap items-end justify-between gap-2">
        <h1 id="analytics-title" className="text-2xl font-semibold">
          Analytics
        </h1>
        <label className="text-sm">
          <span className="mr-2">Period</span>
          <select className="input" value={params.days} onChange={(e) => update({ days: e.target.value })}>
            {PERIODS.map((d) => (
              <option key={d} value={d}>
                last {d} days
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="text-sm muted">Whole days (UTC). Run time percentiles are within 10 %.</p>

      <Section title="Usage per item">
        {items.isPending ? (
          <Spinner label="Loading usage" />
        ) : items.isError ? (
          <Empty title="Usage could not be loaded">{errorText(items.error)}</Empty>
        ) : items.data.items.length === 0 ? (
          <Empty title="No runs in this period" />
        ) : (
          <>
            <Suspense fallback={<Spinner label="Loading the chart" />}>
              <Charts.Runs items={items.data.items} />
            </Suspense>
            <UsageTable items={items.data.items} />
          </>
        )}
      </Section>

      <Section title="Version adoption">
        {items.data && items.data.items.length > 0 && (
          <label className="mb-2 block text-sm">
            <span className="mr-2">Item</span>
            <select className="input" value={chosen ?? ""} onChange={(e) => update({ item: e.target.value })}>
              {chosen && !items.data.items.some((i) => i.item_id === chosen) && <option value={chosen}>{chosen}</option>}
              {items.data.items.map((i) => (
                <option key={i.item_id} value={i.item_id}>
                  {i.item_id}
                </option>
              ))}
            </select>
          </label>
        )}
        {adoption.data && (
          <Suspense fallback={<Spinner label="Loading the chart" />}>
            <Charts.Adoption adoption={adoption.data} />
          </Suspense>
        )}
      </Section>

      <Section title="Most and least used">
        <label className="mb-2 block text-sm">
          <span className="mr-2">Not run in</span>
          <input
            className="input w-20"
            type="number"
            min={1}
            max={3650}
            aria-label="Days without a run"
            value={params.unused}
            onChange={(e) => update({ unused: e.target.value }, { replace: true })}
          />{" "}
          days
        </label>
        {ranking.data ? <Ranking ranking={ranking.data} /> : ranking.isError ? <p className="text-sm">{errorText(ranking.error)}</p> : <Spinner />}
      </Section>

      <Section title="Failures">
        {errors.data ? (
          <>
            <p className="mb-2 text-sm">{errors.data.failures} failed run(s), grouped by type and message.</p>
            <Errors groups={errors.data.groups} />
          </>
        ) : errors.isError ? (
          <p className="text-sm">{errorText(errors.error)}</p>
        ) : (
          <Spinner />
        )}
      </Section>

      {hasRole(me.data?.role, "publisher") && (
        <Section title="Failed imports" id="failed-imports">
          <FailedImports />
        </Section>
      )}
    </section>
  );
}
