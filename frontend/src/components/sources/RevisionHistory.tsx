/** The saved revisions of the sources document, newest first and paged: what each changed from the one before
 * (the changed fields and the unified YAML diff), and rollback to one (a new revision, over the one read). */
import { useState } from "react";
import { ApiError } from "../../api/client";
import { REVISIONS_PAGE_SIZE, useRevisionDiff, useRollbackSources, useSourceRevisions, type Revision, type SourcesView } from "../../api/sources";
import { errorText } from "../../lib/formErrors";
import { Dialog, useConfirm } from "../Dialog";
import { useToast } from "../toasts";
import { Badge, Empty, Pager, Spinner, TableHead, Time } from "../ui";

const CHANGE_TONES = { added: "green", removed: "red", changed: "amber" } as const;

function shown(value: unknown): string {
  if (value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function lineClass(line: string): string {
  if (line.startsWith("+++") || line.startsWith("---")) return "muted";
  if (line.startsWith("+")) return "bg-green-100 text-green-900 dark:bg-green-950 dark:text-green-200";
  if (line.startsWith("-")) return "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200";
  if (line.startsWith("@@")) return "text-sky-800 dark:text-sky-300";
  return "";
}

function RevisionDiffView({ revision }: { revision: number }) {
  const diff = useRevisionDiff(revision);
  if (diff.isPending) return <Spinner label="Comparing" />;
  if (diff.isError) return <Empty title="The revisions could not be compared">{errorText(diff.error)}</Empty>;
  const { changes, unified, against } = diff.data;
  return (
    <div className="space-y-4 text-sm" data-testid="revision-diff">
      <p>{against === null ? `Revision ${revision} compared with an empty document.` : `Revision ${revision} compared with revision ${against}.`}</p>
      {changes.length === 0 ? (
        <p className="muted">Nothing changed.</p>
      ) : (
        <ul className="space-y-1" aria-label="Changed fields">
          {changes.map((change) => (
            <li key={`${change.field}-${change.change}`} className="break-words">
              <Badge tone={CHANGE_TONES[change.change]}>{change.change}</Badge> <span className="font-mono">{change.field}</span>
              {change.change === "changed" && (
                <span className="font-mono text-xs">
                  {" "}
                  {shown(change.before)} → {shown(change.after)}
                </span>
              )}
              {change.change === "added" && <span className="font-mono text-xs"> {shown(change.after)}</span>}
            </li>
          ))}
        </ul>
      )}
      {unified && (
        <div>
          <h3 className="mb-1 font-medium">As YAML</h3>
          <pre className="max-h-96 overflow-auto rounded-md bg-stone-50 p-2 font-mono text-xs dark:bg-stone-900" aria-label="Unified diff" tabIndex={0}>
            {unified.split("\n").map((line, i) => (
              <div key={i} className={lineClass(line)}>
                {line || " "}
              </div>
            ))}
          </pre>
        </div>
      )}
    </div>
  );
}

export function RevisionHistory({ current, reload }: { current: SourcesView; reload: () => Promise<unknown> }) {
  const [page, setPage] = useState(1);
  const [opened, setOpened] = useState<number | null>(null);
  const revisions = useSourceRevisions(page, current.revision);
  const confirm = useConfirm();
  const toast = useToast();

  const rollback = useRollbackSources({
    onSuccess: (result, { revision }) =>
      toast(result.saved ? `Rolled back to revision ${revision}: saved as revision ${result.current.revision ?? ""}` : `Revision ${revision} is already the current content`, result.saved ? "success" : "info"),
    onError: (error, { revision }) => {
      if (error instanceof ApiError && error.status === 409) {
        toast(`Not rolled back to revision ${revision}: the sources changed since you read them. The page now shows the current ones; try again.`, "error");
        void reload();
      } else {
        toast(`Not rolled back to revision ${revision}: ${errorText(error)}`, "error");
      }
    },
  });

  const askRollback = async (revision: Revision) => {
    const yes = await confirm({
      title: `Roll back to revision ${revision.revision}?`,
      message: (
        <>
          The sources become what they were in revision {revision.revision} ({revision.sources === 1 ? "1 source" : `${revision.sources} sources`}
          {revision.message ? `, “${revision.message}”` : ""}), checked again and saved as a new revision. Revisions after it stay in the history.
        </>
      ),
      confirmLabel: "Roll back",
    });
    if (yes) rollback.mutate({ revision: revision.revision, etag: current.etag });
  };

  if (revisions.isPending) return <Spinner label="Loading revisions" />;
  if (revisions.isError) return <Empty title="The revisions could not be loaded">{errorText(revisions.error)}</Empty>;
  const { items, total } = revisions.data;
  if (total === 0) return <Empty title="No revisions yet">The first save makes revision 1.</Empty>;
  return (
    <>
      <div className="card relative overflow-x-auto">
        <table className="cards w-full text-left text-sm" data-testid="revisions-table">
          <caption className="sr-only">Revisions of the sources, newest first, {total} in all</caption>
          <TableHead columns={["Revision", "Message", "Author", "Saved", "Sources", null]} />
          <tbody>
            {items.map((revision) => (
              <tr key={revision.revision} className="border-t border-stone-200 align-top dark:border-stone-800" data-revision={revision.revision}>
                <td className="px-3 py-2 font-mono">
                  {revision.revision}
                  {revision.revision === current.revision && (
                    <span className="ml-2">
                      <Badge tone="green">current</Badge>
                    </span>
                  )}
                </td>
                <td className="max-w-80 px-3 py-2 break-words">{revision.message || <span className="muted">—</span>}</td>
                <td className="px-3 py-2">{revision.author}</td>
                <td className="px-3 py-2 whitespace-nowrap">
                  <Time iso={revision.created_at} />
                </td>
                <td className="px-3 py-2">{revision.sources}</td>
                <td className="px-3 py-2">
                  <div className="flex justify-end gap-2">
                    <button type="button" className="btn" onClick={() => setOpened(revision.revision)} aria-label={`Changes in revision ${revision.revision}`}>
                      Changes
                    </button>
                    {revision.revision !== current.revision && (
                      <button
                        type="button"
                        className="btn"
                        disabled={rollback.isPending}
                        onClick={() => void askRollback(revision)}
                        aria-label={`Roll back to revision ${revision.revision}`}
                      >
                        Roll back
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {total > REVISIONS_PAGE_SIZE && <Pager page={page} pages={Math.ceil(total / REVISIONS_PAGE_SIZE)} total={total} noun="revisions" onPage={setPage} />}
      <Dialog open={opened !== null} onClose={() => setOpened(null)} title={`Changes in revision ${opened ?? ""}`} wide>
        {opened !== null && <RevisionDiffView revision={opened} />}
      </Dialog>
    </>
  );
}
