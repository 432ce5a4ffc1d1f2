/**
 * One job, live: state and actions, progress, the timeline with durations, inputs and result, the log (follow
 * mode, bounded), the error with its traceback, retry links both ways and "Run again" with the same inputs.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMe } from "../api/auth";
import { ApiError, type JobDetail } from "../api/client";
import { useJob } from "../api/jobs";
import { ProblemPage } from "../components/ErrorBoundary";
import { JsonView } from "../components/JsonView";
import { Timeline } from "../components/JobTimeline";
import { DecisionForm } from "../components/jobs/DecisionForm";
import { JobActions } from "../components/jobs/JobActions";
import { FINISHED_STATES, formatDuration, JobLinks, ProgressBar, Spinner, StateBadge, Time } from "../components/ui";
import { hasRole, type Role } from "../lib/auth";
import type { StreamLine } from "../lib/jobLogs";
import { useJobStream } from "../lib/jobStream";
import { withArticle } from "../lib/words";

function LogView({ lines, dropped, finished }: { lines: StreamLine[]; dropped: number; finished: boolean }) {
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  return (
    <section aria-labelledby="logs-title" className="card p-4">
      <div className="mb-2 flex items-center justify-between">
        <h2 id="logs-title" className="font-semibold">
          Log{" "}
          <span className="text-sm font-normal muted">
            ({lines.length + dropped} {lines.length + dropped === 1 ? "line" : "lines"})
          </span>
        </h2>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} className="accent-accent-600" />
          Follow
        </label>
      </div>
      {dropped > 0 && <p className="mb-1 text-xs muted">The first {dropped} lines are not shown.</p>}
      <pre
        ref={box}
        tabIndex={0}
        aria-label="Log lines"
        data-testid="job-log"
        className="max-h-96 overflow-auto rounded-md bg-stone-950 p-3 font-mono text-xs leading-5 text-stone-100"
        onScroll={(e) => {
          const el = e.currentTarget;
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
          if (follow !== atBottom) setFollow(atBottom);
        }}
      >
        {lines.length === 0 ? (
          <span className="text-stone-400">{finished ? "No output." : "No output yet."}</span>
        ) : (
          lines.map((l) => (
            <div key={l.id} className={l.stream === "stderr" ? "text-red-300" : l.stream === "system" ? "text-amber-300" : undefined}>
              {l.line}
            </div>
          ))
        )}
      </pre>
    </section>
  );
}

function describeApprovers(approval: NonNullable<JobDetail["approval"]>): string {
  const who = approval.approvers as { role?: string; users?: string[] };
  const count = approval.count;
  if (who.role) return `${count} approval${count > 1 ? "s" : ""} from ${withArticle(who.role)} or higher`;
  return `${count} approval${count > 1 ? "s" : ""} from ${(who.users ?? []).join(", ")}`;
}

function ApprovalPanel({ job }: { job: JobDetail }) {
  const me = useMe();
  const approval = job.approval!;
  const who = approval.approvers as { role?: string; users?: string[] };
  const eligible =
    !!me.data &&
    me.data.username !== job.created_by_name &&
    (who.role ? hasRole(me.data.role, who.role as Role) : (who.users ?? []).includes(me.data.username));
  const decided = approval.decisions.some((d) => d.username === me.data?.username);
  return (
    <section aria-labelledby="approval-title" className="card p-4">
      <h2 id="approval-title" className="mb-1 font-semibold">
        Approval
      </h2>
      <p className="text-sm muted">
        Needs {describeApprovers(approval)}
        {job.state === "PENDING_APPROVAL" && approval.deadline && (
          <>
            ; cancelled if not approved by <time dateTime={approval.deadline}>{new Date(approval.deadline).toLocaleString()}</time>
          </>
        )}
        .
      </p>
      {approval.decisions.length > 0 && (
        <ul className="mt-2 space-y-1 text-sm">
          {approval.decisions.map((d) => (
            <li key={`${d.username}-${d.at}`}>
              <span className={d.decision === "approved" ? "text-green-800 dark:text-green-300" : "text-red-800 dark:text-red-300"}>
                {d.decision}
              </span>{" "}
              by {d.username} <Time iso={d.at} />
              {d.comment && <span className="muted"> — {d.comment}</span>}
            </li>
          ))}
        </ul>
      )}
      {job.state === "PENDING_APPROVAL" && eligible && !decided && (
        <div className="mt-3">
          <DecisionForm jobId={job.id} />
        </div>
      )}
    </section>
  );
}

export default function JobPage() {
  const rawId = useParams().jobId;
  const jobId = Number(rawId);
  const navigate = useNavigate();
  const me = useMe();
  const job = useJob(jobId, { enabled: Number.isInteger(jobId) && jobId > 0 });
  const finished = job.data ? FINISHED_STATES.includes(job.data.state) : undefined;
  const { lines, dropped } = useJobStream(jobId, job.data !== undefined);
  const duration = useMemo(() => {
    if (!job.data?.started_at) return null;
    const end = job.data.finished_at ? new Date(job.data.finished_at).getTime() : Date.now();
    return end - new Date(job.data.started_at).getTime();
  }, [job.data?.started_at, job.data?.finished_at]);

  if (!Number.isInteger(jobId) || jobId <= 0 || (job.error instanceof ApiError && job.error.status === 404)) {
    return (
      <ProblemPage title="No such job">
        <p>Job {rawId} does not exist, or it is not yours to see.</p>
        <Link to="/jobs" className="link mt-3 inline-block">
          All jobs
        </Link>
      </ProblemPage>
    );
  }
  if (job.isError) return <ProblemPage title="The job could not be loaded">{job.error.message}</ProblemPage>;
  if (job.isPending) return <Spinner label="Loading the job" />;
  const j = job.data;
  const error = j.error as { type?: string; message?: string; traceback?: string; details?: unknown; field?: string } | null;
  const isRun = j.kind !== "catalog_import";

  return (
    <article aria-labelledby="job-title" className="space-y-4">
      <nav aria-label="Breadcrumb" className="text-sm muted">
        <Link to="/jobs" className="link">
          Jobs
        </Link>{" "}
        / #{j.id}
      </nav>
      <header className="card flex flex-wrap items-start justify-between gap-4 p-4">
        <div>
          <h1 id="job-title" className="flex flex-wrap items-center gap-3 text-2xl font-semibold">
            Job #{j.id} <StateBadge state={j.state} />
          </h1>
          <p className="mt-1 text-sm muted">
            {isRun ? (
              <Link to={`/catalog/${encodeURIComponent(j.item_id)}/${encodeURIComponent(j.item_version)}`} className="link">
                {j.item_id} {j.item_version}
              </Link>
            ) : (
              `Catalog import: ${j.item_id}`
            )}{" "}
            · by {j.created_by_name} · created <Time iso={j.created_at} />
            {duration != null && ` · ran ${formatDuration(duration)}`}
            {j.attempt > 1 && ` · attempt ${j.attempt}`}
          </p>
          {(j.retry_of || j.retries.length > 0) && (
            <p className="mt-1 text-sm">
              {j.retry_of && (
                <>
                  Retry of{" "}
                  <Link to={`/jobs/${j.retry_of}`} className="link">
                    #{j.retry_of}
                  </Link>
                  {j.retries.length > 0 && " · "}
                </>
              )}
              {j.retries.length > 0 && (
                <>
                  Retried as <JobLinks ids={j.retries} />
                </>
              )}
            </p>
          )}
        </div>
        <div className="flex flex-wrap gap-2">
          <JobActions job={j} onRetried={(id) => navigate(`/jobs/${id}`)} />
          {isRun && hasRole(me.data?.role, "requester") && (
            <Link className="btn" to={`/catalog/${encodeURIComponent(j.item_id)}/${encodeURIComponent(j.item_version)}?from_job=${j.id}`}>
              Run again
            </Link>
          )}
        </div>
      </header>
      <section aria-label="Progress" className="card p-4">
        <div className="mb-1 flex justify-between text-sm">
          <span data-testid="job-message">{j.message || (j.state === "QUEUED" ? "Waiting for a worker" : "")}</span>
          <span className="font-mono">{j.progress}%</span>
        </div>
        <ProgressBar value={j.progress} running={j.state === "RUNNING"} state={j.state} label={`Progress of job ${j.id}`} />
      </section>
      {j.approval && <ApprovalPanel job={j} />}
      {j.pruned_at && (
        <p className="rounded-md border border-stone-300 p-3 text-sm" role="note" data-testid="job-pruned">
          Its logs, progress reports and result were removed by the job history retention <Time iso={j.pruned_at} />; its
          summary, inputs and transitions stay.
        </p>
      )}
      {error && j.state === "REJECTED" && (
        <section aria-labelledby="error-title" className="card border-orange-300 p-4 dark:border-orange-800" data-testid="job-rejected">
          <h2 id="error-title" className="font-semibold text-orange-900 dark:text-orange-200">
            The item refused {error.field && error.field !== "(root)" ? `the input ${error.field}` : "the inputs"}
          </h2>
          <p className="mt-1 text-sm">{error.message}</p>
          <p className="mt-1 text-sm muted">Nothing ran. Use Run again to correct the inputs.</p>
        </section>
      )}
      {error && j.state !== "REJECTED" && (
        <section aria-labelledby="error-title" className="card border-red-300 p-4 dark:border-red-800">
          <h2 id="error-title" className="font-semibold text-red-800 dark:text-red-300">
            {error.type ?? "Error"}
          </h2>
          <p className="mt-1 text-sm">{error.message}</p>
          {error.traceback && (
            <details className="mt-2">
              <summary className="cursor-pointer text-sm">Traceback</summary>
              <pre className="mt-2 max-h-96 overflow-auto rounded-md bg-stone-950 p-3 font-mono text-xs text-stone-100">{error.traceback}</pre>
            </details>
          )}
          {error.details != null && <JsonView value={error.details} label="Error details" />}
        </section>
      )}
      <div className="grid gap-4 lg:grid-cols-2">
        <section aria-labelledby="inputs-title" className="card p-4">
          <h2 id="inputs-title" className="mb-2 font-semibold">
            Inputs
          </h2>
          <JsonView value={j.inputs} label="Inputs" />
        </section>
        <section aria-labelledby="result-title" className="card p-4">
          <h2 id="result-title" className="mb-2 font-semibold">
            Result
          </h2>
          {j.result === null || j.result === undefined ? (
            <p className="text-sm muted">{j.pruned_at ? "Removed by the retention." : finished ? "No result." : "Not finished yet."}</p>
          ) : (
            <JsonView value={j.result} label="Result" />
          )}
        </section>
      </div>
      <LogView lines={lines} dropped={dropped} finished={Boolean(finished)} />
      <Timeline job={j} />
    </article>
  );
}
