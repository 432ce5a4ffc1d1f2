/**
 * Scheduled runs: an item version with fixed inputs on a cron expression in a time zone. Operators see them;
 * admins create, edit, enable or disable, run now and delete them (the server enforces it). The form
 * (components/admin/ScheduleForm) shows the next runs of the expression as one types.
 */
import { useState } from "react";
import { Link } from "react-router";
import { useMe } from "../../api/auth";
import { ApiError } from "../../api/client";
import {
  useDeleteSchedule,
  useRunSchedule,
  useSchedule,
  useSchedules,
  useToggleSchedule,
  type Schedule,
} from "../../api/schedules";
import { NextRunsList, ScheduleForm, zonedTime, type Editing } from "../../components/admin/ScheduleForm";
import { Dialog, useConfirm } from "../../components/Dialog";
import { useToast } from "../../components/toasts";
import { Empty, Spinner, TableHead, Time } from "../../components/ui";
import { hasRole } from "../../lib/auth";
import { errorText } from "../../lib/formErrors";

function LastRun({ schedule }: { schedule: Schedule }) {
  return (
    <div className="space-y-0.5">
      {schedule.last_run_at ? (
        <div>
          <Time iso={schedule.last_run_at} />
          {schedule.last_job_id != null && (
            <>
              {" · "}
              <Link className="link" to={`/jobs/${schedule.last_job_id}`}>
                job #{schedule.last_job_id}
              </Link>
            </>
          )}
        </div>
      ) : (
        <span className="muted">never</span>
      )}
      {schedule.last_error && (
        <p className="max-w-72 text-xs text-red-700 dark:text-red-400" title={schedule.last_error}>
          Failed: {schedule.last_error.length > 140 ? `${schedule.last_error.slice(0, 140)}…` : schedule.last_error}
        </p>
      )}
    </div>
  );
}

export default function SchedulesPage() {
  const me = useMe();
  const isAdmin = hasRole(me.data?.role, "admin");
  const [editing, setEditing] = useState<Editing | null>(null);
  const [shown, setShown] = useState<Schedule | null>(null);
  const toast = useToast();
  const confirm = useConfirm();

  const schedules = useSchedules();
  const detail = useSchedule(shown?.id ?? null);

  const toggle = useToggleSchedule({
    onSuccess: (s) => toast(`${s.name} ${s.enabled ? "enabled" : "disabled"}`),
    onError: (error, s) => toast(`${s.name} was not changed: ${errorText(error)}`, "error"),
  });
  const runNow = useRunSchedule({
    onSuccess: (job, s) => toast(`${s.name}: job #${job.id} started`),
    onError: (error, s) => toast(`${s.name} did not run: ${errorText(error)}`, "error"),
  });
  const remove = useDeleteSchedule({
    onSuccess: (_, s) => toast(`Schedule ${s.name} deleted`),
    onError: (error, s) => toast(`${s.name} was not deleted: ${errorText(error)}`, "error"),
  });

  const askDelete = async (s: Schedule) => {
    const yes = await confirm({
      title: `Delete schedule ${s.name}?`,
      message: "It creates no more jobs. The jobs it already created stay.",
      confirmLabel: "Delete",
      danger: true,
    });
    if (yes) remove.mutate(s);
  };

  const items = schedules.data?.items ?? [];
  return (
    <section aria-labelledby="schedules-title">
      <div className="mb-2 flex flex-wrap items-end justify-between gap-2">
        <h1 id="schedules-title" className="text-2xl font-semibold">
          Schedules
        </h1>
        <div className="flex items-center gap-3">
          {schedules.isFetching && !schedules.isPending && <Spinner label="Updating" />}
          {isAdmin && (
            <button type="button" className="btn btn-primary" onClick={() => setEditing({ mode: "create" })}>
              New schedule
            </button>
          )}
        </div>
      </div>
      <p className="mb-4 max-w-3xl text-sm muted">
        Each schedule runs an item version with fixed inputs at the times of its cron expression, in its time zone, once per tick however
        many portal processes run. Its jobs run as the admin who last saved or enabled it.
      </p>
      {schedules.isPending ? (
        <Spinner label="Loading schedules" />
      ) : schedules.isError ? (
        <Empty title="The schedules could not be loaded">
          {schedules.error instanceof ApiError && schedules.error.status === 403 ? "Operators and admins see schedules." : schedules.error.message}
        </Empty>
      ) : items.length === 0 ? (
        <Empty title="No schedules yet">
          {isAdmin && (
            <button type="button" className="link" onClick={() => setEditing({ mode: "create" })}>
              Create the first one
            </button>
          )}
        </Empty>
      ) : (
        <div className="card relative overflow-x-auto">
          <table className="cards w-full min-w-[64rem] text-left text-sm">
            <caption className="sr-only">Schedules, {schedules.data.total} in all</caption>
            <TableHead columns={["Name", "Item", "When", "Next run", "Last run", "Enabled", null]} />
            <tbody>
              {items.map((s) => (
                <tr key={s.id} className="border-t border-stone-200 align-top dark:border-stone-800" data-schedule-id={s.id}>
                  <td className="px-3 py-2">
                    <button type="button" className="link font-medium" onClick={() => setShown(s)}>
                      {s.name}
                    </button>
                    {s.description && <p className="max-w-60 text-xs muted">{s.description}</p>}
                  </td>
                  <td className="px-3 py-2 font-mono text-xs">
                    <Link className="link" to={`/catalog/${encodeURIComponent(s.item_id)}`}>
                      {s.item_id}
                    </Link>
                    @{s.version}
                  </td>
                  <td className="px-3 py-2">
                    <span className="font-mono">{s.cron}</span>
                    <p className="text-xs muted">{s.timezone}</p>
                  </td>
                  <td className="px-3 py-2 whitespace-nowrap" data-testid="next-run">
                    {s.enabled && s.next_run_at ? (
                      <>
                        <Time iso={s.next_run_at} />
                        <p className="text-xs muted">{zonedTime(s.next_run_at, s.timezone)}</p>
                      </>
                    ) : (
                      <span className="muted">{s.enabled ? "—" : "disabled"}</span>
                    )}
                  </td>
                  <td className="px-3 py-2">
                    <LastRun schedule={s} />
                  </td>
                  <td className="px-3 py-2">
                    <input
                      type="checkbox"
                      role="switch"
                      className="h-4 w-4 accent-accent-600"
                      aria-label={`${s.name} enabled`}
                      checked={s.enabled}
                      disabled={!isAdmin || (toggle.isPending && toggle.variables?.id === s.id)}
                      onChange={() => toggle.mutate(s)}
                    />
                  </td>
                  <td className="px-3 py-2">
                    {isAdmin && (
                      <div className="flex justify-end gap-2">
                        <button type="button" className="btn" onClick={() => setEditing({ mode: "edit", schedule: s })} aria-label={`Edit ${s.name}`}>
                          Edit
                        </button>
                        <button
                          type="button"
                          className="btn"
                          disabled={runNow.isPending && runNow.variables?.id === s.id}
                          onClick={() => runNow.mutate(s)}
                          aria-label={`Run ${s.name} now`}
                        >
                          Run now
                        </button>
                        <button type="button" className="btn" onClick={() => void askDelete(s)} aria-label={`Delete ${s.name}`}>
                          Delete
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={editing !== null} onClose={() => setEditing(null)} title={editing?.mode === "edit" ? `Edit schedule ${editing.schedule.name}` : "New schedule"} wide>
        {editing && (
          <ScheduleForm
            key={editing.mode === "edit" ? editing.schedule.id : "new"}
            editing={editing}
            onCancel={() => setEditing(null)}
            onDone={(s, created) => {
              setEditing(null);
              setShown(s);
              toast(`Schedule ${s.name} ${created ? "created" : "saved"}`);
            }}
          />
        )}
      </Dialog>
      <Dialog open={shown !== null} onClose={() => setShown(null)} title={shown ? `Schedule ${shown.name}` : ""} wide>
        {shown &&
          (detail.isPending ? (
            <Spinner />
          ) : detail.isError ? (
            <p className="text-sm">{detail.error.message}</p>
          ) : (
            <div className="space-y-4 text-sm">
              <p>
                <span className="font-mono">{detail.data.item_id}</span>@{detail.data.version} at <span className="font-mono">{detail.data.cron}</span> (
                {detail.data.timezone}), runs as {detail.data.owner}
                {detail.data.enabled ? "" : " — disabled"}
              </p>
              <section aria-labelledby="shown-next-title">
                <h3 id="shown-next-title" className="mb-1 font-medium">
                  Next 5 runs
                </h3>
                <NextRunsList runs={detail.data.next_runs} timeZone={detail.data.timezone} label="Next runs" />
              </section>
              <section aria-labelledby="shown-recent-title">
                <h3 id="shown-recent-title" className="mb-1 font-medium">
                  Recent ticks
                </h3>
                {detail.data.recent_runs.length === 0 ? (
                  <p className="muted">None yet.</p>
                ) : (
                  <ul className="space-y-0.5">
                    {detail.data.recent_runs.map((run) => (
                      <li key={run.id}>
                        <span className="font-mono">{zonedTime(run.due_at, detail.data.timezone)}</span>{" "}
                        {run.job_id != null ? (
                          <Link className="link" to={`/jobs/${run.job_id}`}>
                            job #{run.job_id}
                          </Link>
                        ) : (
                          <span className="text-red-700 dark:text-red-400">failed: {run.error}</span>
                        )}
                      </li>
                    ))}
                  </ul>
                )}
              </section>
            </div>
          ))}
      </Dialog>
    </section>
  );
}
