/**
 * A schedule's form (admin): the item version, its inputs as JSON, the cron expression and time zone with the next
 * runs previewed as one types, and the server's 422 problems on their fields. Also how a schedule's times read.
 */
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useAllCatalogItems, useItemVersions } from "../../api/catalog";
import { useSaveSchedule, useSchedulePreview, type NextRun, type Schedule } from "../../api/schedules";
import { errorText, fieldMessages } from "../../lib/formErrors";
import { Field, fieldAria, FormError } from "../forms";
import { Spinner, Time } from "../ui";

export type Editing = { mode: "create" } | { mode: "edit"; schedule: Schedule };

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

/** The next runs of a schedule, each on the schedule's own clock and relative to now. */
export function NextRunsList({ runs, timeZone, label }: { runs: NextRun[]; timeZone: string; label: string }) {
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

/** The form of a new or an existing schedule, with the next runs of its expression as one types. */
export function ScheduleForm({ editing, onDone, onCancel }: { editing: Editing; onDone: (schedule: Schedule, created: boolean) => void; onCancel: () => void }) {
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
