/**
 * `/admin/audit`: the audit trail with filters in the URL, keyset paging (newest first), CSV and JSON-lines
 * export of the same selection, and a drawer showing an entry, with before/after as a field-by-field diff.
 */
import { useState } from "react";
import { auditExportUrl, useAuditFacets, useAuditPage, type AuditEntry, type AuditSelection } from "../../api/audit";
import { Dialog } from "../../components/Dialog";
import { JsonView } from "../../components/JsonView";
import { Empty, Spinner, Time } from "../../components/ui";
import { diffValues } from "../../lib/diff";
import { useUrlState } from "../../lib/urlState";

const DEFAULTS = { actor: "", action: "", action_prefix: "", target_type: "", target_id: "", since: "", until: "", before_id: "" };
const FILTERS = ["actor", "action", "action_prefix", "target_type", "target_id", "since", "until"] as const;

/** `datetime-local` values are local times: the API gets them as UTC instants. */
function toInstant(local: string): string | undefined {
  return local ? new Date(local).toISOString() : undefined;
}

function show(value: unknown): string {
  if (value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function Diff({ before, after }: { before: unknown; after: unknown }) {
  const rows = diffValues(before, after);
  const tone = { added: "bg-green-50 dark:bg-green-950", removed: "bg-red-50 dark:bg-red-950", changed: "bg-amber-50 dark:bg-amber-950", same: "" };
  return (
    <table className="cards w-full text-left text-xs">
      <caption className="mb-1 text-left text-sm font-semibold">Changes</caption>
      <thead className="muted">
        <tr>
          <th scope="col" className="py-1 pr-2">Field</th>
          <th scope="col" className="py-1 pr-2">Before</th>
          <th scope="col" className="py-1">After</th>
        </tr>
      </thead>
      <tbody className="font-mono">
        {rows.map((row) => (
          <tr key={row.path} className={tone[row.change]} data-change={row.change}>
            <td className="py-1 pr-2">{row.path}</td>
            <td className={`py-1 pr-2 ${row.change === "changed" || row.change === "removed" ? "line-through decoration-red-500" : ""}`}>
              {show(row.before)}
            </td>
            <td className="py-1">{show(row.after)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function EntryDrawer({ entry, onClose }: { entry: AuditEntry; onClose: () => void }) {
  const details = entry.details as { before?: unknown; after?: unknown } & Record<string, unknown>;
  const { before, after, ...rest } = details;
  const changed = before !== undefined || after !== undefined;
  return (
    <Dialog open onClose={onClose} title={`${entry.action} #${entry.id}`} wide>
      <dl className="mb-4 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
        <dt className="muted">When</dt>
        <dd>{new Date(entry.at).toLocaleString()}</dd>
        <dt className="muted">Who</dt>
        <dd>{entry.actor_name}</dd>
        <dt className="muted">Target</dt>
        <dd>{[entry.target_type, entry.target_id].filter(Boolean).join(" ") || "—"}</dd>
        <dt className="muted">From</dt>
        <dd>{entry.ip ?? "—"}</dd>
        <dt className="muted">Request</dt>
        <dd className="font-mono text-xs">{entry.request_id ?? "—"}</dd>
      </dl>
      {changed && <Diff before={before} after={after} />}
      {Object.keys(rest).length > 0 && (
        <div className="mt-4">
          <h3 className="mb-1 text-sm font-semibold">Details</h3>
          <JsonView value={rest} label="Details" />
        </div>
      )}
    </Dialog>
  );
}

export default function AuditPage() {
  const [params, update] = useUrlState(DEFAULTS);
  const [open, setOpen] = useState<AuditEntry | null>(null);
  const [history, setHistory] = useState<string[]>([]);
  const selection: AuditSelection = {
    actor: params.actor || undefined,
    action: params.action || undefined,
    action_prefix: params.action_prefix || undefined,
    target_type: params.target_type || undefined,
    target_id: params.target_id || undefined,
    since: toInstant(params.since),
    until: toInstant(params.until),
  };
  const page = useAuditPage(selection, params.before_id ? Number(params.before_id) : undefined);
  const facets = useAuditFacets();
  const filter = (patch: Partial<typeof DEFAULTS>) => {
    setHistory([]);
    update({ ...patch, before_id: "" });
  };
  const select = (id: string, label: string, key: "actor" | "action" | "target_type", options: string[] = []) => (
    <div>
      <label htmlFor={id} className="mb-1 block text-xs font-medium">
        {label}
      </label>
      <select id={id} className="input" value={params[key]} onChange={(e) => filter({ [key]: e.target.value })}>
        <option value="">Any</option>
        {options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </div>
  );
  const text = (id: string, label: string, key: (typeof FILTERS)[number], type = "text", placeholder = "") => (
    <div>
      <label htmlFor={id} className="mb-1 block text-xs font-medium">
        {label}
      </label>
      <input id={id} type={type} className="input" placeholder={placeholder} value={params[key]} onChange={(e) => filter({ [key]: e.target.value })} />
    </div>
  );

  return (
    <section aria-labelledby="audit-title">
      <div className="mb-4 flex flex-wrap items-end justify-between gap-2">
        <h1 id="audit-title" className="text-2xl font-semibold">
          Audit log
        </h1>
        <div className="flex gap-2">
          <a className="btn" href={auditExportUrl(selection, "csv")} download>
            Export CSV
          </a>
          <a className="btn" href={auditExportUrl(selection, "jsonl")} download>
            Export JSON lines
          </a>
        </div>
      </div>
      <div className="mb-4 grid gap-2 sm:grid-cols-2 lg:grid-cols-4">
        {select("audit-actor", "Actor", "actor", facets.data?.actors)}
        {select("audit-action", "Action", "action", facets.data?.actions)}
        {text("audit-prefix", "Action starts with", "action_prefix", "text", "job.")}
        {select("audit-target-type", "Target type", "target_type", facets.data?.target_types)}
        {text("audit-target", "Target id", "target_id")}
        {text("audit-since", "From", "since", "datetime-local")}
        {text("audit-until", "Until", "until", "datetime-local")}
        <div className="flex items-end">
          <button className="btn w-full" onClick={() => filter({ ...DEFAULTS })}>
            Clear filters
          </button>
        </div>
      </div>
      {page.isPending ? (
        <Spinner label="Loading the audit log" />
      ) : page.isError ? (
        <Empty title="The audit log could not be loaded">{page.error.message}</Empty>
      ) : page.data.items.length === 0 && !page.data.next_before_id ? (
        <Empty title="No entry matches these filters" />
      ) : (
        <>
          <div className="card relative overflow-x-auto">
            <table className="cards w-full min-w-[44rem] text-left text-sm">
              <caption className="sr-only">Audit entries, newest first</caption>
              <thead className="bg-stone-100 text-xs uppercase tracking-wide text-stone-600 dark:bg-stone-800 dark:text-stone-300">
                <tr>
                  {["When", "Actor", "Action", "Target", "From", ""].map((h, i) => (
                    <th key={i} scope="col" className="px-3 py-2">
                      {h || <span className="sr-only">Details</span>}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((entry) => (
                  <tr key={entry.id} className="border-t border-stone-200 dark:border-stone-800" data-action={entry.action}>
                    <td className="px-3 py-2 whitespace-nowrap">
                      <Time iso={entry.at} />
                    </td>
                    <td className="px-3 py-2">{entry.actor_name}</td>
                    <td className="px-3 py-2 font-mono text-xs">{entry.action}</td>
                    <td className="px-3 py-2">{[entry.target_type, entry.target_id].filter(Boolean).join(" ")}</td>
                    <td className="px-3 py-2 text-xs muted">{entry.ip}</td>
                    <td className="px-3 py-2">
                      <button className="link text-xs" onClick={() => setOpen(entry)} aria-label={`Show entry ${entry.id}`}>
                        Show
                      </button>
                    </td>
                  </tr>
                ))}
                {page.data.items.length === 0 && (
                  <tr>
                    <td colSpan={6} className="px-3 py-3 text-sm muted">
                      Nothing in this stretch of the log; older entries may still match.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <nav aria-label="Pagination" className="mt-3 flex justify-end gap-2 text-sm">
            <button
              className="btn"
              disabled={history.length === 0}
              onClick={() => {
                const previous = history.at(-1) ?? "";
                setHistory(history.slice(0, -1));
                update({ before_id: previous });
              }}
            >
              Newer
            </button>
            <button
              className="btn"
              disabled={!page.data.next_before_id}
              onClick={() => {
                setHistory([...history, params.before_id]);
                update({ before_id: String(page.data.next_before_id) });
              }}
            >
              Older
            </button>
          </nav>
        </>
      )}
      {open && <EntryDrawer entry={open} onClose={() => setOpen(null)} />}
    </section>
  );
}
