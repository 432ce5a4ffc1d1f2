/** Retry and cancel, shared by the jobs table and the job page, and the admin monitor's operator actions: buttons,
 * confirmation and toasts. */
import { useAdminJobAction } from "../../api/admin";
import { useMe } from "../../api/auth";
import type { Job, JobDetail } from "../../api/client";
import { useCancelJob, useRetryJob } from "../../api/jobs";
import { hasRole } from "../../lib/auth";
import { useConfirm } from "../Dialog";
import { useToast } from "../toasts";

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

/** Asks before retrying a job that was already retried, naming the earlier retry; true at once otherwise. */
function useRetryConfirmation(job: Job | JobDetail): () => Promise<boolean> {
  const confirm = useConfirm();
  // The job page's detail lists every retry; a list row knows the newest.
  const earlier = ("retries" in job ? job.retries.at(-1) : undefined) ?? job.retried_as;
  return async () =>
    !earlier ||
    confirm({
      title: `Retry job #${job.id} again?`,
      message: (
        <p>
          It was already retried as job #{earlier}. Another retry runs {job.item_id} {job.item_version} once more.
        </p>
      ),
      confirmLabel: "Retry again",
    });
}

export function JobActions({ job, compact = false, onRetried }: { job: Job; compact?: boolean; onRetried?: (id: number) => void }) {
  const toast = useToast();
  const { canRetry, canCancel } = useJobPermissions(job);
  const confirm = useConfirm();

  const retry = useRetryJob({
    onSuccess: (created) => {
      toast(`Job #${job.id} retried as #${created.id}`);
      onRetried?.(created.id);
    },
    onError: (error) => toast(`Retry failed: ${error.message}`, "error"),
  });
  const cancel = useCancelJob({
    onSuccess: () => toast(`Cancel of job #${job.id} requested`, "info"),
    onError: (error) => toast(`Cancel failed: ${error.message}`, "error"),
  });
  const confirmRetry = useRetryConfirmation(job);
  const askToRetry = async () => {
    if (await confirmRetry()) retry.mutate(job.id);
  };
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
    if (yes) cancel.mutate(job.id);
  };

  const size = compact ? "px-2 py-0.5 text-xs" : "";
  return (
    <div className="flex gap-1.5">
      {canRetry && (
        <button className={`btn ${size}`} onClick={() => void askToRetry()} disabled={retry.isPending} aria-label={`Retry job ${job.id}`}>
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
  const confirmRetry = useRetryConfirmation(job);
  const me = useMe();
  const act = useAdminJobAction({
    onSuccess: (answer, { job: acted, action }) => {
      if (action === "retry") toast(`Job #${acted.id} retried as #${answer.id}`);
      else if (action === "cancel") toast(`Cancel of job #${acted.id} requested`);
      else toast(acted.state === "QUEUED" ? `Job #${acted.id} moved to the front of the queue` : `Job #${acted.id} started`);
    },
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
    if (yes) act.mutate({ job, action });
  };
  const canRun = job.state === "QUEUED" || (job.state === "PENDING_APPROVAL" && hasRole(me.data?.role, "admin"));
  const size = "px-2 py-0.5 text-xs";
  return (
    <div className="flex gap-1.5">
      {RETRYABLE.includes(job.state) && (
        <button
          className={`btn ${size}`}
          disabled={act.isPending}
          onClick={() => void confirmRetry().then((yes) => yes && act.mutate({ job, action: "retry" }))}
          aria-label={`Retry job ${job.id}`}
        >
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
