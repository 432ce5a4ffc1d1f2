/**
 * Import catalog versions (publisher+): a local folder, a Git repository, or an uploaded bundle. Folders and
 * bundles are checked first (every problem with file and line) and registered only on request; Git imports run
 * as jobs whose progress shows here.
 */
import { useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { Link } from "react-router";
import {
  useImportLocalFolder,
  useLocalRoots,
  useStartGitImport,
  useUploadBundle,
  useValidateBundle,
  useValidateLocalFolder,
} from "../../api/catalog";
import { ApiError, type ImportReport, type ValidationReport } from "../../api/client";
import { useJob } from "../../api/jobs";
import { Dialog } from "../Dialog";
import { useToast } from "../toasts";
import { ProgressBar, StateBadge } from "../ui";

type Problem = { file?: string | null; line?: number | null; message: string; field?: string };
const TABS = [
  ["local", "Local folder"],
  ["git", "Git"],
  ["upload", "Upload bundle"],
] as const;
type Tab = (typeof TABS)[number][0];

function Problems({ problems }: { problems: Problem[] }) {
  if (!problems.length) return null;
  return (
    <ul className="mt-3 max-h-60 space-y-1 overflow-auto rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200" aria-label="Problems">
      {problems.map((p, i) => (
        <li key={i}>
          {(p.file ?? p.field) && (
            <span className="font-mono">
              {p.file ?? p.field}
              {p.line != null && `:${p.line}`}
            </span>
          )}{" "}
          {p.message}
        </li>
      ))}
    </ul>
  );
}

function reportProblems(report: ValidationReport): Problem[] {
  return [...report.problems, ...report.versions.flatMap((v) => v.problems)];
}

function errorProblems(error: unknown): Problem[] {
  if (!(error instanceof ApiError)) return [{ message: String(error) }];
  return error.problems.length ? [{ message: error.message }, ...error.problems] : [{ message: error.message }];
}

function Preview({ report }: { report: ValidationReport }) {
  return (
    <div className="mt-3 text-sm" aria-live="polite">
      <p className={report.valid ? "text-green-800 dark:text-green-300" : "text-red-800 dark:text-red-300"}>
        {report.valid
          ? `Ready to import: ${report.versions.map((v) => `${v.item_id} ${v.version}`).join(", ")}`
          : "These problems must be fixed first; nothing was registered."}
      </p>
      <Problems problems={reportProblems(report)} />
    </div>
  );
}

function Imported({ report }: { report: ImportReport }) {
  return (
    <div role="status" className="mt-3 rounded-md border border-green-300 bg-green-50 p-3 text-sm text-green-900 dark:border-green-800 dark:bg-green-950 dark:text-green-200">
      <p className="font-medium">Imported</p>
      <ul>
        {report.imported.map((v) => (
          <li key={`${v.item_id}@${v.version}`}>
            <Link to={`/catalog/${v.item_id}/${v.version}`} className="link">
              {v.item_id} {v.version}
            </Link>{" "}
            — {v.outcome}
          </li>
        ))}
      </ul>
    </div>
  );
}

function Check({ id, label, checked, onChange, hint }: { id: string; label: string; checked: boolean; onChange: (v: boolean) => void; hint?: string }) {
  return (
    <div className="flex items-start gap-2 text-sm">
      <input id={id} type="checkbox" className="mt-1 accent-accent-600" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>
        {label}
        {hint && <span className="block text-xs muted">{hint}</span>}
      </label>
    </div>
  );
}

/** The toast of a finished import (the catalog's lists and versions are refetched by the import's hook). */
function useImported() {
  const toast = useToast();
  return (report: ImportReport) => toast(`Imported ${report.imported.length} version(s)`);
}

function LocalTab() {
  const [path, setPath] = useState("");
  const [replace, setReplace] = useState(false);
  const [development, setDevelopment] = useState(false);
  const [draft, setDraft] = useState(false);
  const imported = useImported();
  const check = useValidateLocalFolder();
  const run = useImportLocalFolder({ onSuccess: imported });
  const roots = useLocalRoots();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    run.reset();
    check.mutate(path);
  };
  return (
    <form onSubmit={submit} className="space-y-3">
      <div>
        <label htmlFor="local-path" className="mb-1 block text-sm font-medium">
          Folder on the server
        </label>
        <input id="local-path" className="input font-mono" required value={path} onChange={(e) => { setPath(e.target.value); check.reset(); }} placeholder="items/my-item or /srv/catalog/items" />
        <div className="mt-1 text-xs muted" data-testid="local-roots">
          A path relative to one of these folders, or an absolute path under one (PORTAL_CATALOG_LOCAL_ROOTS):
          <ul className="mt-0.5 font-mono">
            {(roots.data?.roots ?? []).map((root) => (
              <li key={root}>{root}</li>
            ))}
          </ul>
        </div>
      </div>
      <Check id="local-replace" label="Replace versions registered with different content" checked={replace} onChange={setReplace} />
      <Check id="local-dev" label="Development mode" hint="Runs straight from the folder: edits apply on the next run." checked={development} onChange={setDevelopment} />
      <Check id="local-draft" label="Import as drafts" hint="Not runnable until moved along its lifecycle on the admin catalog page (a staged release)." checked={draft} onChange={setDraft} />
      <div className="flex gap-2">
        <button type="submit" className="btn" disabled={check.isPending}>
          {check.isPending ? "Checking…" : "Check"}
        </button>
        <button type="button" className="btn btn-primary" disabled={!check.data?.valid || run.isPending} onClick={() => run.mutate({ path, replace, development, draft })}>
          {run.isPending ? "Importing…" : "Import"}
        </button>
      </div>
      {check.data && <Preview report={check.data} />}
      {check.error && <Problems problems={errorProblems(check.error)} />}
      {run.error && <Problems problems={errorProblems(run.error)} />}
      {run.data && <Imported report={run.data} />}
    </form>
  );
}

function GitJob({ jobId }: { jobId: number }) {
  const job = useJob(jobId);
  if (!job.data) return null;
  const j = job.data;
  const error = j.error as { message?: string; details?: Problem[] } | null;
  return (
    <div className="mt-3 space-y-2 text-sm" aria-live="polite">
      <p className="flex items-center gap-2">
        <Link to={`/jobs/${j.id}`} className="link">
          Import job #{j.id}
        </Link>
        <StateBadge state={j.state} />
      </p>
      <ProgressBar value={j.progress} running={j.state === "RUNNING"} state={j.state} label="Import progress" />
      <p className="muted">{j.message}</p>
      {error && <Problems problems={[{ message: error.message ?? "the import failed" }, ...(Array.isArray(error.details) ? error.details : [])]} />}
    </div>
  );
}

function GitTab() {
  const [repoUrl, setRepoUrl] = useState("");
  const [itemId, setItemId] = useState("");
  const [pick, setPick] = useState<"version" | "ref">("version");
  const [target, setTarget] = useState("");
  const [replace, setReplace] = useState(false);
  const [draft, setDraft] = useState(false);
  const start = useStartGitImport();
  return (
    <form
      className="space-y-3"
      onSubmit={(e) => {
        e.preventDefault();
        start.mutate({ repo_url: repoUrl, item_id: itemId, replace, draft, ...(pick === "version" ? { version: target } : { ref: target }) });
      }}
    >
      <div>
        <label htmlFor="git-url" className="mb-1 block text-sm font-medium">
          Repository URL
        </label>
        <input id="git-url" className="input font-mono" required value={repoUrl} onChange={(e) => setRepoUrl(e.target.value)} placeholder="https://git.example.com/ops/catalog.git" />
      </div>
      <div>
        <label htmlFor="git-item" className="mb-1 block text-sm font-medium">
          Item id
        </label>
        <input id="git-item" className="input font-mono" required value={itemId} onChange={(e) => setItemId(e.target.value)} placeholder="backup-config" />
      </div>
      <fieldset>
        <legend className="mb-1 text-sm font-medium">What to import</legend>
        <div className="flex gap-4 text-sm">
          <label className="flex items-center gap-1.5">
            <input type="radio" name="git-pick" checked={pick === "version"} onChange={() => setPick("version")} className="accent-accent-600" /> Version (tag item@version)
          </label>
          <label className="flex items-center gap-1.5">
            <input type="radio" name="git-pick" checked={pick === "ref"} onChange={() => setPick("ref")} className="accent-accent-600" /> Branch, tag or commit
          </label>
        </div>
        <label htmlFor="git-target" className="sr-only">
          {pick === "version" ? "Version" : "Ref"}
        </label>
        <input id="git-target" className="input mt-2 font-mono" required value={target} onChange={(e) => setTarget(e.target.value)} placeholder={pick === "version" ? "2.0.0" : "main"} />
      </fieldset>
      <Check id="git-replace" label="Replace versions registered with different content" checked={replace} onChange={setReplace} />
      <Check id="git-draft" label="Import as drafts" hint="Not runnable until moved along its lifecycle on the admin catalog page (a staged release)." checked={draft} onChange={setDraft} />
      <button type="submit" className="btn btn-primary" disabled={start.isPending}>
        {start.isPending ? "Starting…" : "Import"}
      </button>
      {start.error && <Problems problems={errorProblems(start.error)} />}
      {start.data && <GitJob jobId={start.data.id} />}
    </form>
  );
}

function UploadTab() {
  const [file, setFile] = useState<File | null>(null);
  const [replace, setReplace] = useState(false);
  const [draft, setDraft] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const imported = useImported();

  const check = useValidateBundle({ onSettled: () => setProgress(null) });
  const run = useUploadBundle({ onSuccess: imported, onSettled: () => setProgress(null) });
  const choose = (f: File | undefined) => {
    if (!f) return;
    setFile(f);
    run.reset();
    check.mutate({ file: f, onProgress: setProgress });
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.current?.click();
    }
  };
  return (
    <div className="space-y-3">
      <div
        role="button"
        tabIndex={0}
        aria-label="Choose a .tar.gz bundle, or drop it here"
        onKeyDown={onKey}
        onClick={() => input.current?.click()}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          choose(e.dataTransfer.files[0]);
        }}
        className={`flex cursor-pointer flex-col items-center gap-1 rounded-lg border-2 border-dashed p-8 text-center text-sm ${
          dragging ? "border-accent-600 bg-accent-50 dark:bg-accent-800/20" : "border-stone-300 dark:border-stone-700"
        }`}
      >
        <span className="font-medium">{file ? file.name : "Drop a .tar.gz bundle here"}</span>
        <span className="muted">{file ? `${(file.size / 1024).toFixed(1)} KB · click to choose another` : "or click to choose a file"}</span>
      </div>
      <input
        ref={input}
        type="file"
        accept=".tar.gz,.tgz,application/gzip"
        className="sr-only"
        aria-label="Bundle file"
        data-testid="bundle-input"
        onChange={(e) => choose(e.target.files?.[0])}
      />
      {progress !== null && <ProgressBar value={Math.round(progress * 100)} running label="Upload progress" />}
      <Check id="upload-replace" label="Replace versions registered with different content" checked={replace} onChange={setReplace} />
      <Check id="upload-draft" label="Import as drafts" hint="Not runnable until moved along its lifecycle on the admin catalog page (a staged release)." checked={draft} onChange={setDraft} />
      <button type="button" className="btn btn-primary" disabled={!file || !check.data?.valid || run.isPending} onClick={() => file && run.mutate({ file, replace, draft, onProgress: setProgress })}>
        {run.isPending ? "Importing…" : "Import"}
      </button>
      {check.isPending && <p className="text-sm muted">Checking the bundle…</p>}
      {check.data && <Preview report={check.data} />}
      {check.error && <Problems problems={errorProblems(check.error)} />}
      {run.error && <Problems problems={errorProblems(run.error)} />}
      {run.data && <Imported report={run.data} />}
    </div>
  );
}

export default function ImportDialog({ onClose }: { onClose: () => void }) {
  const [tab, setTab] = useState<Tab>("local");
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);
  const onKey = (e: KeyboardEvent, index: number) => {
    const delta = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!delta) return;
    const next = (index + delta + TABS.length) % TABS.length;
    setTab(TABS[next]![0]);
    tabs.current[next]?.focus();
  };
  return (
    <Dialog open onClose={onClose} title="Import catalog versions" wide>
      <div role="tablist" aria-label="Import source" className="mb-4 flex gap-1 border-b border-stone-200 dark:border-stone-700">
        {TABS.map(([key, label], index) => (
          <button
            key={key}
            ref={(el) => {
              tabs.current[index] = el;
            }}
            role="tab"
            id={`tab-${key}`}
            aria-selected={tab === key}
            aria-controls={`panel-${key}`}
            tabIndex={tab === key ? 0 : -1}
            onKeyDown={(e) => onKey(e, index)}
            onClick={() => setTab(key)}
            className={`-mb-px border-b-2 px-3 py-2 text-sm font-medium ${
              tab === key ? "border-accent-600 text-accent-800 dark:text-accent-100" : "border-transparent muted"
            }`}
          >
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "local" && <LocalTab />}
        {tab === "git" && <GitTab />}
        {tab === "upload" && <UploadTab />}
      </div>
    </Dialog>
  );
}
