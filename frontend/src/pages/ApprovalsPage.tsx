/** Jobs waiting for the user's approval: approve or reject each, with a comment; the requester never sees their own. */
import { Link } from "react-router";
import { type Job } from "../api/client";
import { DecisionForm } from "../components/jobs/DecisionForm";
import { Empty, Spinner, Time } from "../components/ui";
import { useAwaitingApproval } from "../lib/liveJobs";

function Waiting({ job }: { job: Job }) {
  return (
    <li className="card p-4" data-job-id={job.id}>
      <div className="mb-3 flex flex-wrap items-baseline justify-between gap-2">
        <h2 className="font-semibold">
          <Link to={`/jobs/${job.id}`} className="link">
            Job #{job.id}
          </Link>{" "}
          {job.item_id} <span className="muted">{job.item_version}</span>
        </h2>
        <span className="text-sm muted">
          by {job.created_by_name}, <Time iso={job.created_at} />
        </span>
      </div>
      {job.message && <p className="mb-3 text-sm muted">{job.message}</p>}
      <DecisionForm jobId={job.id} />
    </li>
  );
}

export default function ApprovalsPage() {
  const awaiting = useAwaitingApproval();
  return (
    <section aria-labelledby="approvals-title">
      <h1 id="approvals-title" className="mb-1 text-2xl font-semibold">
        Waiting for my approval
      </h1>
      <p className="mb-4 text-sm muted">Jobs of items that need approval before they run. Open a job to see its inputs.</p>
      {awaiting.isPending ? (
        <Spinner />
      ) : awaiting.isError ? (
        <Empty title="The approvals could not be loaded">{awaiting.error.message}</Empty>
      ) : awaiting.data.length === 0 ? (
        <Empty title="Nothing waits for you">Jobs that need your approval will appear here.</Empty>
      ) : (
        <ul className="space-y-3">
          {awaiting.data.map((job) => (
            <Waiting key={job.id} job={job} />
          ))}
        </ul>
      )}
    </section>
  );
}
