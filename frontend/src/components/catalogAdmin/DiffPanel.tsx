/**
 * Two versions of an item compared, as a reviewer reads them: the input schema's changes (breaking ones first,
 * and the schedules and recent jobs the newer version would refuse), the manifest's, and each file's diff.
 */
import { Link } from "react-router";
import { useVersionDiff } from "../../api/catalogAdmin";
import { errorText } from "../../lib/formErrors";
import { Badge, Empty, Spinner } from "../ui";

export function DiffPanel({ itemId, from, to }: { itemId: string; from: string | null; to: string | null }) {
  const diff = useVersionDiff(itemId, from, to);
  if (!from || !to || from === to) return <p className="text-sm muted">Pick two different versions to compare.</p>;
  if (diff.isPending) return <Spinner label="Comparing" />;
  if (diff.isError) return <Empty title="The versions could not be compared">{errorText(diff.error)}</Empty>;
  const { schema, manifest, files } = diff.data;
  return (
    <div className="space-y-4 text-sm" data-testid="version-diff">
      <div>
        <h3 className="mb-1 font-semibold">
          Input schema {schema.breaking ? <Badge tone="red">breaking</Badge> : <Badge tone="green">compatible</Badge>}
        </h3>
        {schema.changes.length === 0 ? (
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
        {files.changed.map((f) => (
          <details key={f.path} className="mt-2" open>
            <summary className="cursor-pointer font-mono text-xs">{f.path}</summary>
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
