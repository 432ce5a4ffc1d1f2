/**
 * Scheduled runs: an item version with fixed inputs on a cron expression in a time zone. Operators see them;
 * admins create, edit, enable or disable, run now and delete them (the server enforces it). The form shows the
 * next runs of the expression as one types, and the server's 422 problems on their fields.
 */
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useMe } from "../../api/auth";
import { useAllCatalogItems, useItemVersions } from "../../api/catalog";
import { ApiError } from "../../api/client";
import {
  useDeleteSchedule,
  useRunSchedule,
  useSaveSchedule,
  useSchedule,
  useSchedulePreview,
  useSchedules,
  useToggleSchedule,
  type NextRun,
  type Schedule,
} from "../../api/schedules";
import { errorText, Field, fieldAria, fieldMessages, FormError, TableHead } from "../../components/admin";
import { Dialog, useConfirm } from "../../components/Dialog";
import { useToast } from "../../components/toasts";
import { Empty, Spinner, Time } from "../../components/ui";
import { hasRole } from "../../lib/auth";

type Editing = { mode: "create" } | { mode: "edit"; schedule: Schedule };

const LATEST = "latest";

/** "Mon, 30 Mar 2026, 09:00 CEST": an instant as the schedule's own clock shows it. */
export function zonedTime(iso: string, timeZone: string): string {
  try {
    return new Date(iso).toLocaleString(undefined, {
      timeZone,
      weekday: "short",
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      second: new Date(iso).getUTCSeconds() ? "2-digit" : undefined,
      timeZoneName: "short",
    });
  } catch {
    return new Date(iso).toLocaleString();
  }
}

function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
}

/** A value that follows `value` once it has stopped changing for `delayMs`. */
function useSettled<T>(value: T, delayMs = 400): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}

function NextRunsList({ runs, timeZone, label }: { runs: NextRun[]; timeZone: string; label: string }) {
  return (
    <ol aria-label={label} className="space-y-0.5 text-sm">
      {runs.map((run) => (
        <li key={run.at} className="flex flex-wrap gap-x-2">
          <span className="font-mono">{zonedTime(run.at, timeZone)}</span>
          <span className="muted">
            (<Time iso={run.at} />)
          </span>
        </li>
      ))}
    </ol>
  );
}

function ScheduleForm({ editing, onDone, onCancel }: { editing: Editing; onDone: (schedule: Schedule, created: boolean) => void; onCancel: () => void }) {
  const original = editing.mode === "edit" ? editing.schedule : null;
  const [name, setName] = useState(original?.name ?? "");
  const [description, setDescription] = useState(original?.description ?? "");
  const [itemId, setItemId] = useState(original?.item_id ?? "");
  const [version, setVersion] = useState(original?.version ?? LATEST);
  const [inputsText, setInputsText] = useState(JSON.stringify(original?.inputs ?? {}, null, 2));
  const [cron, setCron] = useState(original?.cron ?? "0 9 * * mon-fri");
  const [timezone, setTimezone] = useState(original?.timezone ?? (Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"));
  const [enabled, setEnabled] = useState(original?.enabled ?? true);
  const [inputsProblem, setInputsProblem] = useState<string | null>(null);
  const catalog = useAllCatalogItems();
  const zones = useMemo(timeZones, []);

  const versions = useItemVersions(itemId, { enabled: itemId !== "" });
  const timing = useSettled({ cron, timezone });
  const preview = useSchedulePreview(timing);
  const save = useSaveSchedule({ onSuccess: (schedule) => onDone(schedule, !original) });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    let inputs: unknown;
    try {
      inputs = JSON.parse(inputsText || "{}");
    } catch (error) {
      setInputsProblem(`Not valid JSON: ${errorText(error)}`);
      return;
    }
    if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) {
      setInputsProblem("The inputs must be a JSON object, like {\"devices\": [\"router-1\"]}");
      return;
    }
    setInputsProblem(null);
    const body = { name, description, item_id: itemId, version, inputs: inputs as Record<string, unknown>, cron, timezone, enabled };
    save.mutate({ original, body });
  };

  // Problems of the expression show as one types (from the preview) until the form is sent.
  const previewError = preview.isError ? preview.error : null;
  const timingError = save.error ?? previewError;
  const errors = {
    name: fieldMessages(save.error, "name"),
    description: fieldMessages(save.error, "description"),
    item_id: fieldMessages(save.error, "item_id"),
    version: fieldMessages(save.error, "version"),
    inputs: [...(inputsProblem ? [inputsProblem] : []), ...fieldMessages(save.error, "inputs")],
    cron: fieldMessages(timingError, "cron"),
    timezone: fieldMessages(timingError, "timezone"),
  };
  const active = (versions.data ?? []).filter((v) => v.status === "active");
  const masked = original?.masked_inputs ?? [];

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <Field id="schedule-name" label="Name" errors={errors.name}>
        <input
          id="schedule-name"
          className="input"
          required
          maxLength={100}
          value={name}
          onChange={(e) => setName(e.target.value)}
          data-autofocus
          {...fieldAria("schedule-name", errors.name)}
        />
      </Field>
      <Field id="schedule-description" label="Description (optional)" errors={errors.description}>
        <input
          id="schedule-description"
          className="input"
          maxLength={1000}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          {...fieldAria("schedule-description", errors.description)}
        />
      </Field>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field id="schedule-item" label="Item" errors={errors.item_id}>
          <select
            id="schedule-item"
            className="input"
            required
            value={itemId}
            onChange={(e) => {
              setItemId(e.target.value);
              setVersion(LATEST);
            }}
            {...fieldAria("schedule-item", errors.item_id)}
          >
            <option value="">{catalog.isPending ? "Loading the catalog…" : "Choose an item"}</option>
            {itemId && !(catalog.data?.items ?? []).some((i) => i.id === itemId) && <option value={itemId}>{itemId}</option>}
            {(catalog.data?.items ?? []).map((item) => (
              <option key={item.id} value={item.id}>
                {item.name} ({item.id})
              </option>
            ))}
          </select>
        </Field>
        <Field id="schedule-version" label="Version" hint="latest: the newest active release when each run starts" errors={errors.version}>
          <select
            id="schedule-version"
            className="input"
            value={version}
            onChange={(e) => setVersion(e.target.value)}
            {...fieldAria("schedule-version", errors.version, true)}
          >
            <option value={LATEST}>latest</option>
            {version !== LATEST && !active.some((v) => v.version === version) && <option value={version}>{version}</option>}
            {active.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version}
                {v.deprecated ? " (deprecated)" : ""}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Field
        id="schedule-inputs"
        label="Inputs (JSON)"
        hint={
          <>
            Checked against the version's schema when saved and at every run.
            {masked.length > 0 && (
              <>
                {" "}
                Sensitive inputs ({masked.join(", ")}) are stored encrypted and shown as <span className="font-mono">***</span>: leave
                <span className="font-mono"> ***</span> to keep them.
              </>
            )}
            {itemId && (
              <>
                {" "}
                <Link className="link" to={`/catalog/${encodeURIComponent(itemId)}`} target="_blank">
                  See the item's form
                </Link>
              </>
            )}
          </>
        }
        errors={errors.inputs}
      >
        <textarea
          id="schedule-inputs"
          className="input font-mono text-sm"
          rows={5}
          spellCheck={false}
          value={inputsText}
          onChange={(e) => {
            setInputsText(e.target.value);
            setInputsProblem(null);
          }}
          {...fieldAria("schedule-inputs", errors.inputs, true)}
        />
      </Field>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field
          id="schedule-cron"
          label="Cron expression"
          hint={
            <>
              minute hour day month weekday, e.g. <span className="font-mono">0 9 * * mon-fri</span>, or <span className="font-mono">@daily</span>
            </>
          }
          errors={errors.cron}
        >
          <input
            id="schedule-cron"
            className="input font-mono"
            required
            maxLength={200}
            spellCheck={false}
            autoComplete="off"
            value={cron}
            onChange={(e) => setCron(e.target.value)}
            {...fieldAria("schedule-cron", errors.cron, true)}
          />
        </Field>
        <Field id="schedule-timezone" label="Time zone" hint="An IANA name; DST is followed" errors={errors.timezone}>
          <input
            id="schedule-timezone"
            className="input"
            required
            list="schedule-timezones"
            maxLength={64}
            spellCheck={false}
            autoComplete="off"
            value={timezone}
            onChange={(e) => setTimezone(e.target.value)}
            {...fieldAria("schedule-timezone", errors.timezone, true)}
          />
          <datalist id="schedule-timezones">
            {zones.map((zone) => (
              <option key={zone} value={zone} />
            ))}
          </datalist>
        </Field>
      </div>
      <section aria-labelledby="schedule-preview-title" className="rounded-md border border-stone-200 p-3 dark:border-stone-700">
        <h3 id="schedule-preview-title" className="mb-1 text-sm font-medium">
          Next 5 runs {preview.data && <span className="font-normal muted">({preview.data.timezone})</span>}
        </h3>
        {preview.isError ? (
          <p className="text-sm muted">Fix the expression or the time zone to see when it runs.</p>
        ) : preview.data ? (
          <NextRunsList runs={preview.data.runs} timeZone={preview.data.timezone} label="Next runs" />
        ) : (
          <Spinner label="Computing" />
        )}
      </section>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" className="accent-accent-600" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
        Enabled (jobs run as you, from the next tick on)
      </label>
      <FormError
        error={save.error}
        shown={["name", "description", "item_id", "version", "inputs", "cron", "timezone"]}
        title={original ? "The schedule was not changed" : "The schedule was not created"}
      />
      <div className="flex justify-end gap-2">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : original ? "Save changes" : "Create schedule"}
        </button>
      </div>
    </form>
  );
}

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
          <table className="w-full min-w-[64rem] text-left text-sm">
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
