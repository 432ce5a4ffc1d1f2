/** The admin jobs monitor's bulk bar (one call, a result per job) and its detail drawer. */
import { useState } from "react";
import { Link } from "react-router";
import { useBulkJobAction, type JobAction } from "../../api/admin";
import type { Job, JobState, Schemas } from "../../api/client";
import { useJob } from "../../api/jobs";
import { Dialog, useConfirm } from "../Dialog";
import { Timeline } from "../JobTimeline";
import { JsonView } from "../JsonView";
import { useToast } from "../toasts";
import { Spinner, StateBadge, stateLabel } from "../ui";

type BulkAction = JobAction;
const LABELS: Record<BulkAction, string> = { cancel: "Cancel", retry: "Retry", run: "Run now" };
/** The states each action applies to (the server checks each job again and reports what it refused). */
const APPLIES: Record<BulkAction, JobState[]> = {
  cancel: ["PENDING_APPROVAL", "QUEUED", "RUNNING"],
  retry: ["FAILED", "CANCELLED"],
  run: ["PENDING_APPROVAL", "QUEUED"],
};

/** The selected jobs an action applies to: those of a state it takes, and those not on this page (unknown here). */
export function bulkTargets(action: BulkAction, selected: Set<number>, jobs: Job[]): number[] {
  const states = new Map(jobs.map((job) => [job.id, job.state]));
  return [...selected].filter((id) => {
    const state = states.get(id);
    return state === undefined || APPLIES[action].includes(state);
  });
}

export function BulkBar({ selected, jobs, onDone }: { selected: Set<number>; jobs: Job[]; onDone: () => void }) {
  const confirm = useConfirm();
  const toast = useToast();
  const [refused, setRefused] = useState<Schemas["BulkResult"][]>([]);
  const bulk = useBulkJobAction({
    onSuccess: (result) => {
      toast(`${LABELS[result.action as BulkAction]}: ${result.succeeded} done, ${result.failed} refused`, result.failed ? "info" : "success");
      const notDone = result.results.filter((r) => !r.ok);
      setRefused(notDone);
      if (notDone.length === 0) onDone(); // else once the refusals are read: clearing the selection unmounts this bar
    },
    onError: (error) => toast(error.message, "error"),
  });
  const offered = (Object.keys(LABELS) as BulkAction[])
    .map((action) => [action, bulkTargets(action, selected, jobs)] as const)
    .filter(([, ids]) => ids.length > 0);
  const ask = async (action: BulkAction, ids: number[]) => {
    const count = (wanted: (id: number) => boolean) => {
      const states = new Map<string, number>();
      for (const job of jobs) if (selected.has(job.id) && wanted(job.id)) states.set(job.state, (states.get(job.state) ?? 0) + 1);
      return [...states].map(([state, n]) => `${n} ${stateLabel(state).toLowerCase()}`).join(", ");
    };
    const chosen = count((id) => ids.includes(id));
    const skipped = count((id) => !ids.includes(id));
    const yes = await confirm({
      title: `${LABELS[action]} ${ids.length} job${ids.length === 1 ? "" : "s"}?`,
      message: (
        <p>
          {chosen && `Selected: ${chosen}. `}
          {skipped && `Left out: ${skipped} (${LABELS[action].toLowerCase()} does not apply to them). `}
          Each job is checked again on its own; any refused is listed with the reason.
        </p>
      ),
      confirmLabel: LABELS[action],
      danger: action === "cancel",
    });
    if (yes) bulk.mutate({ action, ids });
  };
  return (
    <>
      <div role="region" aria-label="Bulk actions" className="card mb-2 flex flex-wrap items-center gap-2 p-2 text-sm">
        <span className="px-2 font-medium">{selected.size} selected</span>
        {offered.map(([action, ids]) => (
          <button key={action} className={`btn ${action === "cancel" ? "btn-danger" : ""}`} disabled={bulk.isPending} onClick={() => void ask(action, ids)}>
            {LABELS[action]} {ids.length === selected.size ? "selected" : `${ids.length} of ${selected.size}`}
          </button>
        ))}
        {offered.length === 0 && <span className="muted">No action applies to the jobs selected.</span>}
        <button className="btn" onClick={onDone}>
          Clear selection
        </button>
      </div>
      <Dialog
        open={refused.length > 0}
        onClose={() => {
          setRefused([]);
          onDone();
        }}
        title="Not done"
      >
        <ul className="space-y-1 text-sm">
          {refused.map((r) => (
            <li key={r.id}>
              <Link to={`/jobs/${r.id}`} className="link">
                #{r.id}
              </Link>{" "}
              {r.state && <>({stateLabel(r.state).toLowerCase()}) </>}
              {r.message}
            </li>
          ))}
        </ul>
      </Dialog>
    </>
  );
}

export function JobDrawer({ jobId, onClose }: { jobId: number; onClose: () => void }) {
  const job = useJob(jobId);
  const j = job.data;
  const error = j?.error as { type?: string; message?: string; traceback?: string } | null | undefined;
  return (
    <Dialog open onClose={onClose} title={`Job #${jobId}`} wide>
      {!j ? (
        <Spinner />
      ) : (
        <div className="space-y-4 text-sm">
          <p className="flex flex-wrap items-center gap-2">
            <StateBadge state={j.state} /> {j.item_id} {j.item_version} · by {j.created_by_name}
            <Link to={`/jobs/${j.id}`} className="link ml-auto">
              Open the job page
            </Link>
          </p>
          {(j.retry_of || j.retries.length > 0) && (
            <p>
              {j.retry_of && (
                <>
                  Retry of{" "}
                  <Link to={`/jobs/${j.retry_of}`} className="link">
                    #{j.retry_of}
                  </Link>{" "}
                </>
              )}
              {j.retries.length > 0 && <>Retried as {j.retries.map((id) => `#${id}`).join(", ")}</>}
            </p>
          )}
          {error && (
            <div className="rounded-md border border-red-300 p-3 dark:border-red-800">
              <p className="font-semibold text-red-800 dark:text-red-300">{error.type}</p>
              <p>{error.message}</p>
              {error.traceback && (
                <pre tabIndex={0} className="mt-2 max-h-48 overflow-auto rounded bg-stone-950 p-2 font-mono text-xs text-stone-100">
                  {error.traceback}
                </pre>
              )}
            </div>
          )}
          <div>
            <h3 className="mb-1 font-semibold">Inputs</h3>
            <JsonView value={j.inputs} label="Inputs" />
          </div>
          <Timeline job={j} />
        </div>
      )}
    </Dialog>
  );
}
