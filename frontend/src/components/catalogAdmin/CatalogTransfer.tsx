/**
 * The catalog export and import (admins): download this portal's catalog as one archive, or bring in another
 * portal's, preview first. The import is idempotent: what is here already stays as it is.
 */
import { useState } from "react";
import { CATALOG_EXPORT_URL, useCatalogImport, type CatalogImportReport } from "../../api/catalogAdmin";
import { errorText } from "../../lib/formErrors";
import { useToast } from "../toasts";
import { Badge, TableHead, type Tone } from "../ui";

const TONES: Record<string, Tone> = {
  imported: "green",
  new: "green",
  unchanged: "stone",
  conflict: "amber",
  skipped: "stone",
  failed: "red",
};

function problemText(problems: unknown): string {
  if (problems === null || problems === undefined) return "";
  if (typeof problems === "object" && "here" in problems) {
    const { here, export: theirs } = problems as { here: string; export: string };
    return `kept: here ${here.slice(0, 12)}, in the export ${theirs.slice(0, 12)}`;
  }
  if (typeof problems === "object" && "message" in problems) return String((problems as { message: unknown }).message);
  return JSON.stringify(problems);
}

function Report({ report }: { report: CatalogImportReport }) {
  const counts = report.dry_run
    ? `${report.versions.filter((v) => v.outcome === "new").length} version(s) would be imported`
    : `${report.imported} imported`;
  return (
    <div className="space-y-2 text-sm" data-testid="catalog-import-report">
      <p>
        {report.dry_run ? "Preview: " : ""}
        {counts}, {report.unchanged} unchanged, {report.conflicts} conflict(s), {report.failed} failed, {report.skipped} skipped
        {report.exported_from && ` (exported from ${report.exported_from}`}
        {report.exported_from && report.exported_at && ` on ${new Date(report.exported_at).toLocaleString()}`}
        {report.exported_from && ")"}.
      </p>
      {report.channels_set.length > 0 && <p>Channels set: {report.channels_set.join(", ")}</p>}
      {report.items_configured.length > 0 && <p>New items given their metadata and policies: {report.items_configured.join(", ")}</p>}
      {report.notes.length > 0 && (
        <ul className="list-disc pl-5">
          {report.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
      {/* focusable, so that the keyboard scrolls a long list too */}
      <div className="card max-h-96 overflow-auto" tabIndex={0} role="region" aria-label="Versions of the export">
        <table className="cards w-full text-left text-xs">
          <caption className="sr-only">Versions of the export and what the import {report.dry_run ? "would do" : "did"} with each</caption>
          <TableHead columns={["Item", "Version", "Outcome", "State here", "Problems"]} />
          <tbody>
            {report.versions.map((v) => (
              <tr key={`${v.item_id}@${v.version}`} className="border-t border-stone-200 dark:border-stone-800">
                <td className="px-3 py-1 font-mono">{v.item_id}</td>
                <td className="px-3 py-1 font-mono">{v.version}</td>
                <td className="px-3 py-1">
                  <Badge tone={TONES[v.outcome] ?? "stone"}>{v.outcome}</Badge>
                </td>
                <td className="px-3 py-1">{v.state ?? <span className="muted">—</span>}</td>
                <td className="px-3 py-1 break-all">{problemText(v.problems)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function CatalogTransfer() {
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState(0);
  const [report, setReport] = useState<CatalogImportReport | null>(null);
  const toast = useToast();
  const importing = useCatalogImport({
    onSuccess: (result) => {
      setReport(result);
      if (!result.dry_run) toast(`Imported ${result.imported} version(s); ${result.unchanged} were here already`);
    },
  });
  const run = (dryRun: boolean) => {
    if (!file) return;
    setProgress(0);
    importing.mutate({ file, dryRun, onProgress: setProgress });
  };
  return (
    <details className="mt-6" data-testid="catalog-transfer">
      <summary className="cursor-pointer text-lg font-semibold">Export and import</summary>
      <div className="mt-2 space-y-3">
        <p className="text-sm muted">
          The export holds every item with its metadata and policies, its versions (bundles and lifecycle states),
          custom channels and the bundles. Importing one into another portal is safe to repeat: a version already
          there is left as it is, and new versions go through that portal&apos;s own review and tests.
        </p>
        <a className="btn inline-block" href={CATALOG_EXPORT_URL} download>
          Download the catalog export
        </a>
        <div className="flex flex-wrap items-end gap-2">
          <label className="text-sm">
            <span className="block font-medium">Catalog export to import</span>
            <input
              type="file"
              accept=".tar,application/x-tar"
              className="input"
              onChange={(e) => {
                setFile(e.target.files?.[0] ?? null);
                setReport(null);
              }}
            />
          </label>
          <button type="button" className="btn" disabled={!file || importing.isPending} onClick={() => run(true)}>
            Preview the import
          </button>
          <button
            type="button"
            className="btn btn-primary"
            disabled={!file || importing.isPending || report === null || !report.dry_run}
            title={report?.dry_run ? undefined : "Preview it first"}
            onClick={() => run(false)}
          >
            Import
          </button>
          {importing.isPending && <span className="text-sm tabular-nums">{Math.round(progress * 100)} %</span>}
        </div>
        {importing.error && <p className="text-sm text-red-700 dark:text-red-400">{errorText(importing.error)}</p>}
        {report && <Report report={report} />}
      </div>
    </details>
  );
}
