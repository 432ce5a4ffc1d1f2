/** Retry and cancel, shared by the jobs table and the job page: mutations, confirmation and toasts. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Job } from "../api/client";
import { useConfirm } from "../components/Dialog";
import { useToast } from "../components/toasts";
import { hasRole, useMe } from "./auth";

export const RETRYABLE = ["FAILED", "CANCELLED"];
export const CANCELLABLE = ["PENDING_APPROVAL", "QUEUED", "RUNNING"];

/** Whether the logged-in user may retry or cancel `job` (the server checks again). */
export function useJobPermissions(job: Job) {
  const me = useMe();
  const role = me.data?.role;
  const mayAct = hasRole(role, "operator") || (hasRole(role, "requester") && job.created_by_name === me.data?.username);
  return {
    canRetry: mayAct && RETRYABLE.includes(job.state),
    canCancel: mayAct && CANCELLABLE.includes(job.state) && !job.cancel_requested,
  };
}

export function JobActions({ job, compact = false, onRetried }: { job: Job; compact?: boolean; onRetried?: (id: number) => void }) {
  const client = useQueryClient();
  const toast = useToast();
  const { canRetry, canCancel } = useJobPermissions(job);
  const confirm = useConfirm();

  const retry = useMutation({
    mutationFn: () => unwrap(api.POST("/api/jobs/{job_id}/retry", { params: { path: { job_id: job.id } } })),
    onSuccess: (created) => {
      toast(`Job #${job.id} retried as #${created.id}`);
      void client.invalidateQueries({ queryKey: ["job", job.id] });
      onRetried?.(created.id);
    },
    onError: (error) => toast(`Retry failed: ${error.message}`, "error"),
  });
  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: job.id } } })),
    onSuccess: () => toast(`Cancel of job #${job.id} requested`, "info"),
    onError: (error) => toast(`Cancel failed: ${error.message}`, "error"),
  });
  const askToCancel = async () => {
    const yes = await confirm({
      title: `Cancel job #${job.id}?`,
      message: (
        <p>
          {job.state === "RUNNING"
            ? "The running task is stopped at once, with everything it started."
            : "The job will not run."}{" "}
          ({job.item_id} {job.item_version})
        </p>
      ),
      confirmLabel: "Cancel job",
      danger: true,
    });
    if (yes) cancel.mutate();
  };

  const size = compact ? "px-2 py-0.5 text-xs" : "";
  return (
    <div className="flex gap-1.5">
      {canRetry && (
        <button className={`btn ${size}`} onClick={() => retry.mutate()} disabled={retry.isPending} aria-label={`Retry job ${job.id}`}>
          {retry.isPending ? "Retrying…" : "Retry"}
        </button>
      )}
      {canCancel && (
        <button className={`btn ${size}`} onClick={() => void askToCancel()} disabled={cancel.isPending} aria-label={`Cancel job ${job.id}`}>
          {cancel.isPending ? "Cancelling…" : "Cancel"}
        </button>
      )}
      {job.cancel_requested && job.state === "RUNNING" && <span className="self-center text-xs muted">cancelling…</span>}
    </div>
  );
}

/** An operator's actions on any job: retry, cancel, and run now (a queued job jumps the queue; admins may
 * start a job that waits for approval). Each checks the job's state on the server (409 otherwise). */
export function AdminJobActions({ job }: { job: Job }) {
  const toast = useToast();
  const confirm = useConfirm();
  const me = useMe();
  const path = { params: { path: { job_id: job.id } } };
  const act = useMutation({
    mutationFn: async (action: "retry" | "cancel" | "run") => {
      if (action === "retry") {
        const created = await unwrap(api.POST("/api/admin/jobs/{job_id}/retry", path));
        return `Job #${job.id} retried as #${created.id}`;
      }
      if (action === "cancel") {
        await unwrap(api.POST("/api/admin/jobs/{job_id}/cancel", path));
        return `Cancel of job #${job.id} requested`;
      }
      await unwrap(api.POST("/api/admin/jobs/{job_id}/run", path));
      return job.state === "QUEUED" ? `Job #${job.id} moved to the front of the queue` : `Job #${job.id} started`;
    },
    onSuccess: (message) => toast(message),
    onError: (error) => toast(error.message, "error"),
  });
  const ask = async (action: "cancel" | "run") => {
    const yes = await confirm(
      action === "cancel"
        ? {
            title: `Cancel job #${job.id}?`,
            message: <p>{job.state === "RUNNING" ? "The running task is stopped at once." : "The job will not run."}</p>,
            confirmLabel: "Cancel job",
            danger: true,
          }
        : {
            title: `Run job #${job.id} now?`,
            message: (
              <p>
                {job.state === "QUEUED"
                  ? "It goes to the front of the queue."
                  : "It starts without the approvals it waits for; the audit log records that you started it."}
              </p>
            ),
            confirmLabel: "Run now",
          },
    );
    if (yes) act.mutate(action);
  };
  const canRun = job.state === "QUEUED" || (job.state === "PENDING_APPROVAL" && hasRole(me.data?.role, "admin"));
  const size = "px-2 py-0.5 text-xs";
  return (
    <div className="flex gap-1.5">
      {RETRYABLE.includes(job.state) && (
        <button className={`btn ${size}`} disabled={act.isPending} onClick={() => act.mutate("retry")} aria-label={`Retry job ${job.id}`}>
          Retry
        </button>
      )}
      {CANCELLABLE.includes(job.state) && !job.cancel_requested && (
        <button className={`btn ${size}`} disabled={act.isPending} onClick={() => void ask("cancel")} aria-label={`Cancel job ${job.id}`}>
          Cancel
        </button>
      )}
      {canRun && (
        <button className={`btn ${size}`} disabled={act.isPending} onClick={() => void ask("run")} aria-label={`Run job ${job.id} now`}>
          Run now
        </button>
      )}
    </div>
  );
}
