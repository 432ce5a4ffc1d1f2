/** The validation answer of the document being edited: valid or not, each layer (parse, schema, semantics,
 * security, probe) passed, failed or not run and why, and the errors and warnings by source, each with its field and
 * (for YAML) line. */
import type { ValidationAnswer } from "../../api/sources";
import { groupProblems, sourceLabel, type Problem } from "../../lib/sources";
import { Badge, Spinner } from "../ui";

const LAYER_LABELS: Record<string, string> = {
  parse: "Parse",
  schema: "Schema",
  semantics: "Semantics",
  security: "Security",
  probe: "Probe",
};

function ProblemList({ title, problems, sources, tone }: { title: string; problems: Problem[]; sources: readonly unknown[] | null; tone: "red" | "amber" }) {
  if (!problems.length) return null;
  const colour = tone === "red" ? "text-red-800 dark:text-red-300" : "text-amber-900 dark:text-amber-200";
  return (
    <div className="mt-3">
      <h3 className={`text-sm font-semibold ${colour}`}>
        {title} ({problems.length})
      </h3>
      {groupProblems(problems).map((group) => (
        <div key={group.source ?? "document"} className="mt-1">
          <p className="text-xs font-medium muted">{group.source === null ? "The document" : sourceLabel(sources, group.source)}</p>
          <ul className="list-disc pl-5 text-sm" data-testid={tone === "red" ? "validation-errors" : "validation-warnings"}>
            {group.problems.map((p, i) => (
              <li key={i} className="break-words">
                {p.line != null && <span className="font-medium">Line {p.line}: </span>}
                {p.field && p.field !== "(document)" && <span className="font-mono">{p.field}</span>} {p.message}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </div>
  );
}

export function ValidationPanel({
  answer,
  checking,
  failed,
  sources,
  heading = "Validation",
}: {
  answer: ValidationAnswer | undefined;
  checking: boolean;
  /** Why the document could not be checked (the request failed), if it could not. */
  failed: string | null;
  sources: readonly unknown[] | null;
  heading?: string;
}) {
  return (
    <section
      aria-labelledby="validation-title"
      aria-live="polite"
      className="card p-3"
      data-testid="validation-answer"
      data-valid={answer ? String(answer.valid) : undefined}
      aria-busy={checking}
    >
      <div className="flex flex-wrap items-center gap-2">
        <h2 id="validation-title" className="text-sm font-semibold">
          {heading}
        </h2>
        {answer &&
          (answer.valid ? (
            <Badge tone="green">Valid</Badge>
          ) : (
            <Badge tone="red">{answer.errors.length === 1 ? "1 error" : `${answer.errors.length} errors`}</Badge>
          ))}
        {answer && answer.warnings.length > 0 && (
          <Badge tone="amber">{answer.warnings.length === 1 ? "1 warning" : `${answer.warnings.length} warnings`}</Badge>
        )}
        {checking && <Spinner label="Checking" />}
      </div>
      {failed && <p className="mt-2 text-sm text-red-700 dark:text-red-400">The document could not be checked: {failed}</p>}
      {answer && (
        <>
          <ol className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs" aria-label="Validation layers">
            {answer.layers.map((layer) => (
              <li key={layer.layer} title={layer.note ?? undefined} data-layer={layer.layer} data-layer-valid={String(layer.valid)}>
                <span aria-hidden>{layer.valid === null ? "○" : layer.valid ? "✓" : "✗"}</span> {LAYER_LABELS[layer.layer] ?? layer.layer}
                <span className="sr-only">{layer.valid === null ? ": not run" : layer.valid ? ": passed" : ": failed"}</span>
                {layer.valid === false && layer.errors?.length ? <span className="muted"> ({layer.errors.length})</span> : null}
                {layer.valid === null && layer.note && <span className="muted"> ({layer.note})</span>}
              </li>
            ))}
          </ol>
          <ProblemList title="Errors" problems={answer.errors} sources={sources} tone="red" />
          <ProblemList title="Warnings" problems={answer.warnings} sources={sources} tone="amber" />
        </>
      )}
    </section>
  );
}
