/** Approving or rejecting a job that waits for the user's approval: buttons, a comment and the toasts. */
import { useState } from "react";
import { useDecideJob } from "../../api/jobs";
import { useToast } from "../toasts";
import { stateLabel } from "../ui";

/** Approve and reject buttons with an optional comment, for one job. */
export function DecisionForm({ jobId }: { jobId: number }) {
  const [comment, setComment] = useState("");
  const toast = useToast();
  const decide = useDecideJob({
    onSuccess: (job, { decision }) =>
      toast(decision === "approve" ? `Job #${jobId} approved (${stateLabel(job.state).toLowerCase()})` : `Job #${jobId} rejected`),
    onError: (error) => toast(error.message, "error"),
  });
  return (
    <div className="flex flex-col gap-2 sm:flex-row sm:items-end">
      <div className="flex-1">
        <label htmlFor={`comment-${jobId}`} className="mb-1 block text-xs font-medium">
          Comment (optional)
        </label>
        <input id={`comment-${jobId}`} className="input" value={comment} maxLength={2000} onChange={(e) => setComment(e.target.value)} />
      </div>
      <div className="flex gap-2">
        <button className="btn btn-primary" disabled={decide.isPending} onClick={() => decide.mutate({ jobId, decision: "approve", comment })}>
          Approve #{jobId}
        </button>
        <button className="btn btn-danger" disabled={decide.isPending} onClick={() => decide.mutate({ jobId, decision: "reject", comment })}>
          Reject #{jobId}
        </button>
      </div>
    </div>
  );
}
