/**
 * The bulk bar of the admin catalog table: an action for the selected versions (or items, for tags), previewed
 * row by row first (the server's dry run, with every check of the real action), then applied. Each row's result
 * and reason is shown; the server writes one audit entry per row.
 */
import { useState } from "react";
import { useCatalogBulk, type BulkRequest, type BulkResponse } from "../../api/catalogAdmin";
import { useToast } from "../toasts";
import { errorText } from "../../lib/formErrors";

type Action = BulkRequest["action"];

const ACTIONS: [Action, string][] = [
  ["deprecate", "Deprecate"],
  ["archive", "Archive"],
  ["restore", "Restore"],
  ["promote", "Promote to a channel"],
  ["approve", "Approve (review)"],
  ["tag", "Add tags (to the items)"],
];

export interface Target {
  item_id: string;
  version: string | null;
}

export function BulkBar({ targets, onDone }: { targets: Target[]; onDone: () => void }) {
  const [action, setAction] = useState<Action>("deprecate");
  const [reason, setReason] = useState("");
  const [channel, setChannel] = useState("stable");
  const [tags, setTags] = useState("");
  const [preview, setPreview] = useState<BulkResponse | null>(null);
  const toast = useToast();
  const bulk = useCatalogBulk();

  const body = (dryRun: boolean): BulkRequest => ({
    action,
    targets: targets.map((t) => ({ item_id: t.item_id, version: action === "tag" ? null : t.version })),
    reason: reason.trim() || null,
    channel: action === "promote" ? channel : null,
    tags: action === "tag" ? tags.split(",").map((t) => t.trim()).filter(Boolean) : null,
    confirm: null,
    dry_run: dryRun,
  });
  const run = (dryRun: boolean) =>
    bulk.mutate(body(dryRun), {
      onSuccess: (result) => {
        setPreview(result);
        if (!dryRun) {
          toast(`${result.done} done, ${result.refused} refused`);
          onDone();
        }
      },
      onError: (error) => toast(`The bulk action failed: ${errorText(error)}`, "error"),
    });

  return (
    <div className="card mb-3 space-y-3 p-3" role="region" aria-label="Bulk actions">
      <div className="flex flex-wrap items-end gap-2">
        <span className="text-sm font-medium">{targets.length} selected</span>
        <label className="text-sm">
          <span className="sr-only">Bulk action</span>
          <select className="input" value={action} onChange={(e) => (setAction(e.target.value as Action), setPreview(null))}>
            {ACTIONS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {action === "promote" && (
          <input className="input w-32" aria-label="Channel" value={channel} onChange={(e) => setChannel(e.target.value)} />
        )}
        {action === "tag" && (
          <input className="input w-48" aria-label="Tags, comma-separated" placeholder="tag, tag" value={tags} onChange={(e) => setTags(e.target.value)} />
        )}
        <input className="input w-64" aria-label="Reason" placeholder="Reason (kept in the audit log)" value={reason} onChange={(e) => setReason(e.target.value)} />
        <button type="button" className="btn" disabled={bulk.isPending || targets.length === 0} onClick={() => run(true)}>
          Preview
        </button>
        <button
          type="button"
          className="btn btn-primary"
          disabled={bulk.isPending || preview === null || !preview.dry_run || preview.done === 0}
          onClick={() => run(false)}
        >
          Apply to {preview?.dry_run ? preview.done : 0} row(s)
        </button>
      </div>
      {preview && (
        <table className="cards w-full text-left text-xs" aria-label={preview.dry_run ? "Preview" : "Results"}>
          <tbody>
            {preview.results.map((r) => (
              <tr key={`${r.item_id}@${r.version ?? ""}`} className="border-t border-stone-200 dark:border-stone-800">
                <td className="px-2 py-1 font-mono">
                  {r.item_id}
                  {r.version ? `@${r.version}` : ""}
                </td>
                <td className={`px-2 py-1 ${r.ok ? "" : "text-red-700 dark:text-red-400"}`}>{r.ok ? "✓" : "✗"}</td>
                <td className="px-2 py-1">{r.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
