/**
 * Two versions of an item compared, as a reviewer reads them: the input schema's changes (breaking ones first,
 * and the schedules and recent jobs the newer version would refuse), what each asks for (network access, secrets,
 * approval), the manifest's changes, and each file's diff. Compared with nothing (`from` null: an item's first
 * version), every file is shown whole.
 */
import { Link } from "react-router";
import { useVersionDiff, type VersionNeeds } from "../../api/catalogAdmin";
import { describeNetwork } from "../../lib/catalog";
import { errorText } from "../../lib/formErrors";
import { Badge, Empty, Spinner } from "../ui";

const OPEN_FILES = 20; // more than this many files shown: each opened on request

const SECRET_TONE = { granted: "green", "not granted": "amber", missing: "red" } as const;

function NeedsOf({ label, needs, newSecrets }: { label: string; needs: VersionNeeds; newSecrets: string[] }) {
  const secrets = Object.entries(needs.secrets);
  return (
    <div>
      <p className="font-medium">{label}</p>
      <p>
        Network: {describeNetwork(needs.network) ?? "none"}
        {needs.network && !needs.network_allowed && (
          <>
            {" "}
            <Badge tone="amber">not allowed yet</Badge>
          </>
        )}
      </p>
      <p>
        Secrets:{" "}
        {secrets.length === 0
          ? "none"
          : secrets.map(([name, state]) => (
              <span key={name} className="mr-2">
                <span className="font-mono">{name}</span> <Badge tone={SECRET_TONE[state]}>{state}</Badge>
                {newSecrets.includes(name) && <Badge tone="amber">new</Badge>}
              </span>
            ))}
      </p>
      <p>Runs wait for approval: {needs.approval ? "yes" : "no"}</p>
    </div>
  );
}

export function DiffPanel({ itemId, from, to }: { itemId: string; from: string | null; to: string | null }) {
  const diff = useVersionDiff(itemId, from, to);
  if (!to || from === to) return <p className="text-sm muted">Pick two different versions to compare.</p>;
  if (diff.isPending) return <Spinner label="Comparing" />;
  if (diff.isError) return <Empty title="The versions could not be compared">{errorText(diff.error)}</Empty>;
  const { schema, manifest, files, needs } = diff.data;
  const shown = [...files.changed.map((f) => ({ ...f, added: false })), ...files.added_content.map((f) => ({ ...f, added: true }))];
  return (
    <div className="space-y-4 text-sm" data-testid="version-diff">
      <div>
        <h3 className="mb-1 font-semibold">
          Input schema{" "}
          {diff.data.from === null ? null : schema.breaking ? <Badge tone="red">breaking</Badge> : <Badge tone="green">compatible</Badge>}
        </h3>
        {diff.data.from === null ? (
          <p className="muted">Compared with nothing: no earlier version runs, so nothing breaks. Its schema is in the files below.</p>
        ) : schema.changes.length === 0 ? (
          <p className="muted">No change.</p>
        ) : (
          <ul className="space-y-1">
            {schema.changes.map((c) => (
              <li key={`${c.path}:${c.kind}:${c.message}`}>
                {c.breaking ? <Badge tone="red">breaking</Badge> : <Badge tone="stone">compatible</Badge>}{" "}
                <span className="font-mono">{c.path}</span> {c.message}
              </li>
            ))}
          </ul>
        )}
        {(schema.affected.schedules.length > 0 || schema.affected.jobs_failing > 0) && (
          <div className="mt-2 rounded border border-red-300 p-2" role="alert">
            {schema.affected.schedules.length > 0 && (
              <p>
                Would break {schema.affected.schedules.length} schedule(s):{" "}
                {schema.affected.schedules.map((s) => (
                  <span key={s.id} className="mr-2 font-mono">
                    {s.name} ({s.errors.map((e) => String(e.field ?? "")).join(", ")})
                  </span>
                ))}
              </p>
            )}
            {schema.affected.jobs_failing > 0 && (
              <p>
                {schema.affected.jobs_failing} of the last {schema.affected.jobs_checked} jobs could not run again:{" "}
                {schema.affected.jobs.slice(0, 10).map((j) => (
                  <Link key={j.id} className="link mr-2" to={`/jobs/${j.id}`}>
                    #{j.id}
                  </Link>
                ))}
              </p>
            )}
          </div>
        )}
      </div>
      <div data-testid="version-needs">
        <h3 className="mb-1 font-semibold">
          What it asks for{" "}
          {(needs.network_widened || needs.new_secrets.length > 0) && <Badge tone="amber">asks for more</Badge>}
        </h3>
        <div className="grid gap-2 sm:grid-cols-2">
          {diff.data.from !== null && needs.from && <NeedsOf label={diff.data.from} needs={needs.from} newSecrets={[]} />}
          <NeedsOf label={diff.data.to} needs={needs.to} newSecrets={needs.new_secrets} />
        </div>
      </div>
      <div>
        <h3 className="mb-1 font-semibold">Manifest</h3>
        {manifest.length === 0 ? (
          <p className="muted">No change.</p>
        ) : (
          <ul className="font-mono text-xs">
            {manifest.map((m) => (
              <li key={m.key}>
                {m.key}: {JSON.stringify(m.from)} → {JSON.stringify(m.to)}
              </li>
            ))}
          </ul>
        )}
      </div>
      <div>
        <h3 className="mb-1 font-semibold">Files</h3>
        <p className="text-xs muted">
          {files.unchanged} unchanged
          {files.added.length > 0 && ` · added: ${files.added.join(", ")}`}
          {files.removed.length > 0 && ` · removed: ${files.removed.join(", ")}`}
        </p>
        {files.note && <p className="text-xs text-amber-700 dark:text-amber-400">{files.note}</p>}
        {shown.map((f) => (
          <details key={f.path} className="mt-2" open={shown.length <= OPEN_FILES}>
            <summary className="cursor-pointer font-mono text-xs">
              {f.path} {f.added && <Badge tone="green">new</Badge>}
            </summary>
            {f.diff ? (
              <pre tabIndex={0} aria-label={`Diff of ${f.path}`} className="overflow-x-auto rounded bg-stone-100 p-2 text-xs dark:bg-stone-900">
                {f.diff}
              </pre>
            ) : (
              <p className="text-xs muted">{f.note}</p>
            )}
          </details>
        ))}
      </div>
    </div>
  );
}
