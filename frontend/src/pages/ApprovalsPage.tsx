/** Jobs waiting for the user's approval: approve or reject each, with a comment; the requester never sees their own. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, unwrap, type Job } from "../api/client";
import { useAwaitingApproval } from "../components/Layout";
import { useToast } from "../components/toasts";
import { Empty, Spinner, Time } from "../components/ui";

export function useDecision(jobId: number) {
  const client = useQueryClient();
  const toast = useToast();
  return useMutation({
    mutationFn: ({ decision, comment }: { decision: "approve" | "reject"; comment: string }) =>
      unwrap(
        decision === "approve"
          ? api.POST("/api/jobs/{job_id}/approve", { params: { path: { job_id: jobId } }, body: { comment } })
          : api.POST("/api/jobs/{job_id}/reject", { params: { path: { job_id: jobId } }, body: { comment } }),
      ),
    onSuccess: (job, { decision }) => {
      toast(decision === "approve" ? `Job #${jobId} approved (${job.state.toLowerCase().replace("_", " ")})` : `Job #${jobId} rejected`);
      void client.invalidateQueries({ queryKey: ["approvals"] });
      void client.invalidateQueries({ queryKey: ["job", jobId] });
    },
    onError: (error) => toast(error.message, "error"),
  });
}

/** Approve and reject buttons with an optional comment, for one job. */
export function DecisionForm({ jobId }: { jobId: number }) {
  const [comment, setComment] = useState("");
  const decide = useDecision(jobId);
  return (
    <div className="flex flex-col gap-2 sm:flex-row sm:items-end">
      <div className="flex-1">
        <label htmlFor={`comment-${jobId}`} className="mb-1 block text-xs font-medium">
          Comment (optional)
        </label>
        <input id={`comment-${jobId}`} className="input" value={comment} maxLength={2000} onChange={(e) => setComment(e.target.value)} />
      </div>
      <div className="flex gap-2">
        <button className="btn btn-primary" disabled={decide.isPending} onClick={() => decide.mutate({ decision: "approve", comment })}>
          Approve #{jobId}
        </button>
        <button className="btn btn-danger" disabled={decide.isPending} onClick={() => decide.mutate({ decision: "reject", comment })}>
          Reject #{jobId}
        </button>
      </div>
    </div>
  );
}

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
