/**
 * The storage cleanup, preview first: what it would remove (orphaned bundles with their bytes, versions archived
 * past their retention, this node's cached copies), then, confirmed, exactly that list.
 */
import { useState } from "react";
import { useCleanup, type CleanupReport } from "../../api/storage";
import { errorText } from "../../lib/formErrors";
import { Dialog } from "../Dialog";
import { useToast } from "../toasts";
import { TableHead, Time } from "../ui";
import { formatBytes } from "./format";

function Plan({ report }: { report: CleanupReport }) {
  return (
    <div className="space-y-2 text-sm" data-testid="cleanup-plan">
      <p>
        {report.dry_run ? "Would remove" : "Removed"} {report.bundles.length} orphaned bundle(s), {formatBytes(report.bytes)}
        {report.versions.length > 0 && `, purging ${report.versions.length} version(s) archived past their retention`}
        {report.cache.entries > 0 && `; ${report.cache.entries} cached cop(ies) on this node, ${formatBytes(report.cache.bytes)}`}.
      </p>
      {report.versions.length > 0 && <p className="font-mono text-xs">{report.versions.join(", ")}</p>}
      {report.bundles.length > 0 && (
        <div className="card max-h-80 overflow-auto">
          <table className="cards w-full text-left text-xs">
            <caption className="sr-only">Bundles the cleanup {report.dry_run ? "would remove" : "removed"}</caption>
            <TableHead columns={["Bundle", "Size", "Stored"]} />
            <tbody>
              {report.bundles.map((b) => (
                <tr key={b.sha256} className="border-t border-stone-200 dark:border-stone-800">
                  <td className="px-3 py-1 font-mono">{b.sha256}</td>
                  <td className="px-3 py-1">{formatBytes(b.size)}</td>
                  <td className="px-3 py-1">
                    <Time iso={b.created_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export function StorageCleanup() {
  const [preview, setPreview] = useState<CleanupReport | null>(null);
  const [done, setDone] = useState<CleanupReport | null>(null);
  const [confirming, setConfirming] = useState(false);
  const toast = useToast();
  const look = useCleanup({
    onSuccess: (report) => {
      setPreview(report);
      setDone(null);
    },
  });
  const remove = useCleanup({
    onSuccess: (report) => {
      setDone(report);
      setPreview(null);
      setConfirming(false);
      toast(`Removed ${report.bundles.length} bundle(s), ${formatBytes(report.bytes)}`);
    },
    onError: (error) => toast(errorText(error), "error"),
  });
  const empty = preview !== null && preview.bundles.length === 0 && preview.versions.length === 0 && preview.cache.entries === 0;
  return (
    <div className="space-y-3">
      <p className="text-sm muted">
        Orphaned bundles are those no version refers to and no job ran. Nothing is removed before you have seen the list.
      </p>
      <button type="button" className="btn" disabled={look.isPending} onClick={() => look.mutate({ dry_run: true, bundles: null })}>
        Preview the cleanup
      </button>
      {look.error && <p className="text-sm text-red-700 dark:text-red-400">{errorText(look.error)}</p>}
      {preview &&
        (empty ? (
          <p className="text-sm">Nothing to clean up.</p>
        ) : (
          <>
            <Plan report={preview} />
            <button type="button" className="btn btn-danger" onClick={() => setConfirming(true)}>
              Remove these
            </button>
          </>
        ))}
      {done && <Plan report={done} />}
      {confirming && preview && (
        <Dialog open onClose={() => setConfirming(false)} title="Remove what the preview listed?">
          <p className="mb-3 text-sm">
            {preview.bundles.length} bundle(s), {formatBytes(preview.bytes)}, are deleted from the store for good
            {preview.versions.length > 0 && `, ${preview.versions.length} archived version(s) past their retention are purged`}
            {preview.cache.entries > 0 && ` and this node's cached copies that nothing needs are dropped`}. A bundle that something
            refers to by now is kept.
          </p>
          <div className="flex justify-end gap-2">
            <button type="button" className="btn" onClick={() => setConfirming(false)}>
              Cancel
            </button>
            <button
              type="button"
              className="btn btn-danger"
              disabled={remove.isPending}
              onClick={() => remove.mutate({ dry_run: false, bundles: preview.bundles.map((b) => b.sha256) })}
              data-autofocus
            >
              Remove
            </button>
          </div>
        </Dialog>
      )}
    </div>
  );
}
