/** Approving or rejecting a job that waits for the user's approval: the mutation and its form. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "../../api/client";
import { useToast } from "../toasts";

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
