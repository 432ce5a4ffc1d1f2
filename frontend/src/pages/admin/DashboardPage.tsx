/**
 * The admin dashboard: live counters, alerts, jobs per hour, queues, workers, slowest and most failing items,
 * recent activity and quick actions. It refetches the stats when job updates arrive (at most every 2 s).
 */
import { useEffect, useRef } from "react";
import { Link } from "react-router";
import { useStats } from "../../api/admin";
import { useRecentAudit } from "../../api/audit";
import { useMe } from "../../api/auth";
import { usePendingReviews } from "../../api/catalogAdmin";
import type { Schemas } from "../../api/client";
import { reviewPath } from "../../components/catalogAdmin/lifecycle";
import { Empty, formatDuration, Spinner, Time } from "../../components/ui";
import { hasRole } from "../../lib/auth";
import { useJobsPulse } from "../../lib/liveJobs";

type Stats = Schemas["Stats"];
const MIN_REFRESH_MS = 2_000;
const REVIEWS_LISTED = 10;

function useLiveStats() {
  const pulse = useJobsPulse();
  const stats = useStats();
  const last = useRef(0);
  const { refetch } = stats;
  useEffect(() => {
    if (pulse === 0) return;
    const wait = Math.max(0, last.current + MIN_REFRESH_MS - Date.now());
    const timer = setTimeout(() => {
      last.current = Date.now();
      void refetch();
    }, wait);
    return () => clearTimeout(timer);
  }, [pulse, refetch]);
  return stats;
}

function Counter({ label, value, tone = "", to }: { label: string; value: string | number; tone?: string; to?: string }) {
  const body = (
    <>
      <span className="block text-xs uppercase tracking-wide muted">{label}</span>
      <span className={`block text-2xl font-semibold tabular-nums ${tone}`} data-testid={`counter-${label}`}>
        {value}
      </span>
    </>
  );
  return to ? (
    <Link to={to} className="card block p-4 hover:border-accent-500">
      {body}
    </Link>
  ) : (
    <div className="card p-4">{body}</div>
  );
}

function HourChart({ hours }: { hours: Stats["jobs_per_hour"] }) {
  const max = Math.max(1, ...hours.map((h) => h.succeeded + h.failed + h.cancelled));
  const width = 24 * 14;
  const total = hours.reduce((n, h) => n + h.succeeded + h.failed + h.cancelled, 0);
  return (
    <figure>
      {/* Stretched to the caption's width (not letterboxed in its middle): the current hour ends under "now". */}
      <svg
        viewBox={`0 0 ${width} 100`}
        preserveAspectRatio="none"
        className="h-32 w-full"
        role="img"
        aria-label={`${total} jobs finished in the last 24 hours, by hour`}
        data-testid="hour-chart"
      >
        {hours.map((h, i) => {
          let y = 100;
          return [
            ["succeeded", h.succeeded, "fill-green-600"],
            ["failed", h.failed, "fill-red-600"],
            ["cancelled", h.cancelled, "fill-amber-500"],
          ].map(([name, n, fill]) => {
            const height = ((n as number) / max) * 96;
            y -= height;
            return (
              <rect key={`${i}-${name}`} x={i * 14 + 2} y={y} width={10} height={height} className={fill as string}>
                <title>{`${new Date(h.hour).getHours()}:00 — ${n} ${name}`}</title>
              </rect>
            );
          });
        })}
      </svg>
      <figcaption className="mt-1 flex justify-between text-xs muted">
        <span>24 h ago</span>
        <span>
          <span className="mr-2 inline-block h-2 w-2 bg-green-600" aria-hidden /> succeeded
          <span className="mx-2 inline-block h-2 w-2 bg-red-600" aria-hidden /> failed
          <span className="mx-2 inline-block h-2 w-2 bg-amber-500" aria-hidden /> cancelled
        </span>
        <span>now</span>
      </figcaption>
    </figure>
  );
}

function Table({ caption, head, rows }: { caption: string; head: string[]; rows: React.ReactNode[][] }) {
  return (
    <div className="card relative overflow-x-auto">
      <table className="cards w-full text-left text-sm">
        <caption className="px-4 pt-3 text-left font-semibold">{caption}</caption>
        <thead className="text-xs uppercase muted">
          <tr>
            {head.map((h) => (
              <th key={h} scope="col" className="px-4 py-2">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={head.length} className="px-4 py-3 muted">
                Nothing yet.
              </td>
            </tr>
          ) : (
            rows.map((cells, i) => (
              <tr key={i} className="border-t border-stone-200 dark:border-stone-800">
                {cells.map((cell, j) => (
                  <td key={j} className="px-4 py-2">
                    {cell}
                  </td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

function RecentActivity() {
  const audit = useRecentAudit();
  return (
    <Table
      caption="Recent activity"
      head={["When", "Who", "What", "Target"]}
      rows={(audit.data?.items ?? []).map((e) => [
        <Time key="t" iso={e.at} />,
        e.actor_name,
        <code key="a">{e.action}</code>,
        e.target_type === "job" && e.target_id ? (
          <Link key="g" to={`/jobs/${e.target_id}`} className="link">
            job #{e.target_id}
          </Link>
        ) : (
          [e.target_type, e.target_id].filter(Boolean).join(" ")
        ),
      ])}
    />
  );
}

/** The catalog versions that wait for the caller's review (publishers and admins), each linked to its review, and
 * the caller's own that wait for someone else's. */
function ReviewsWaiting() {
  const reviews = usePendingReviews();
  if (!reviews.data || reviews.data.to_review.length + reviews.data.mine.length === 0) return null;
  const { to_review: toReview, mine } = reviews.data;
  return (
    <div className="rounded-md border border-amber-300 p-3 text-sm" data-testid="reviews-waiting">
      <p>
        <Link className="link font-medium" to="/admin/catalog?state=in_review">
          {toReview.length} catalog version(s) wait for your review
        </Link>
        {mine.length > 0 && ` · ${mine.length} of yours wait for someone else's`}
      </p>
      <ul className="mt-1 space-y-0.5">
        {[...toReview.slice(0, REVIEWS_LISTED).map((r) => ({ ...r, own: false })), ...mine.slice(0, REVIEWS_LISTED).map((r) => ({ ...r, own: true }))].map((r) => (
          <li key={`${r.item_id}@${r.version}`}>
            <Link className="link" to={reviewPath(r.item_id, r.version)}>
              {r.item_name} <span className="font-mono">{r.version}</span>
            </Link>{" "}
            <span className="muted">
              {r.own ? "yours, " : `by ${r.imported_by}, `}
              <Time iso={r.imported_at} />
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

export default function DashboardPage() {
  const me = useMe();
  const stats = useLiveStats();
  if (stats.isPending) return <Spinner label="Loading the dashboard" />;
  if (stats.isError) return <Empty title="The dashboard could not be loaded">{stats.error.message}</Empty>;
  const s = stats.data;
  const admin = hasRole(me.data?.role, "admin");
  return (
    <section aria-labelledby="dashboard-title" className="space-y-5">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h1 id="dashboard-title" className="text-2xl font-semibold">
          Dashboard
        </h1>
        <span className="text-xs muted">
          updated <Time iso={s.generated_at} />
        </span>
      </div>
      {hasRole(me.data?.role, "publisher") && <ReviewsWaiting />}
      {s.alerts.length > 0 && (
        <ul className="space-y-2" aria-label="Alerts">
          {s.alerts.map((a) => (
            // The alert role on the item's content: an <li> with another role would leave the list (axe: list).
            <li key={`${a.code}-${a.message}`}>
              <div
                role="alert"
                className={`rounded-md border p-3 text-sm ${
                  a.level === "critical"
                    ? "border-red-300 bg-red-50 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200"
                    : "border-amber-300 bg-amber-50 text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200"
                }`}
              >
                <strong className="mr-1 uppercase">{a.level}</strong> {a.message}
                {a.code === "import_failed" && hasRole(me.data?.role, "publisher") && (
                  <>
                    {" "}
                    <Link className="link" to="/admin/analytics#failed-imports">
                      See the problems
                    </Link>
                  </>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      <div className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-6">
        <Counter label="Queued" value={s.queued} to="/admin/jobs?state=QUEUED" />
        <Counter label="Running" value={s.running} to="/admin/jobs?state=RUNNING" />
        <Counter label="Pending approval" value={s.pending_approval} to="/approvals" />
        <Counter label="Succeeded 24h" value={s.last_24h.succeeded} tone="text-green-700 dark:text-green-400" />
        <Counter label="Failed 24h" value={s.last_24h.failed} tone="text-red-700 dark:text-red-400" to="/admin/jobs?state=FAILED" />
        <Counter label="Failure rate" value={`${(s.last_24h.failure_rate * 100).toFixed(1)}%`} />
      </div>
      <div className="grid gap-4 lg:grid-cols-3">
        <div className="card p-4 lg:col-span-2">
          <h2 className="mb-2 font-semibold">Jobs per hour</h2>
          <HourChart hours={s.jobs_per_hour} />
        </div>
        <div className="card p-4">
          <h2 className="mb-2 font-semibold">Quick actions</h2>
          <ul className="space-y-1 text-sm">
            <li>
              <Link className="link" to="/admin/jobs?state=FAILED">
                Review failed jobs
              </Link>
            </li>
            <li>
              <Link className="link" to="/admin/jobs?state=QUEUED">
                See the queue
              </Link>
            </li>
            <li>
              <Link className="link" to="/approvals">
                Approvals waiting
              </Link>
            </li>
            {admin && (
              <>
                <li>
                  <Link className="link" to="/admin/audit">
                    Audit log
                  </Link>
                </li>
                <li>
                  <Link className="link" to="/admin/users">
                    Users and tokens
                  </Link>
                </li>
                <li>
                  <Link className="link" to="/admin/system">
                    System status
                  </Link>
                </li>
              </>
            )}
          </ul>
        </div>
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        <Table
          caption="Queues"
          head={["Queue", "Waiting", "In the broker", "Oldest"]}
          rows={s.queues.map((q) => [
            q.queue,
            q.depth,
            q.broker_messages ?? "—",
            q.oldest_age_seconds != null ? `${formatDuration(q.oldest_age_seconds * 1000)} ago` : "—",
          ])}
        />
        <Table
          caption="Workers"
          head={["Worker", "Slots", "Running", "Heartbeat"]}
          rows={s.workers.map((w) => [
            <span key="w" className="inline-flex items-center gap-2" title={w.id}>
              <span className={`h-2 w-2 rounded-full ${w.alive ? "bg-green-500" : "bg-stone-400"}`} aria-hidden />
              {w.kind}@{w.hostname} <span className="muted">({w.alive ? "alive" : w.stopped_at ? "stopped" : "lost"})</span>
            </span>,
            w.slots,
            w.running,
            `${formatDuration(w.heartbeat_age_seconds * 1000)} ago`,
          ])}
        />
        <Table
          caption="Slowest items (7 days)"
          head={["Item", "Runs", "Average", "Longest"]}
          rows={s.slowest_items.map((i) => [i.item_id, i.runs, formatDuration(i.avg_ms), formatDuration(i.max_ms)])}
        />
        <Table
          caption="Most failing items (7 days)"
          head={["Item", "Failed", "Finished", "Rate"]}
          rows={s.failing_items.map((i) => [
            <Link key="i" to={`/admin/jobs?state=FAILED&item_id=${encodeURIComponent(i.item_id)}`} className="link">
              {i.item_id}
            </Link>,
            i.failed,
            i.finished,
            `${(i.failure_rate * 100).toFixed(0)}%`,
          ])}
        />
      </div>
      {admin && <RecentActivity />}
    </section>
  );
}
