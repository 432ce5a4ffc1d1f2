/**
 * The editor of the whole sources document, in two views of the same YAML text: the YAML itself, and a form per
 * source. The text is validated by the server as the user types (as YAML, so problems carry their lines), and saved
 * over the revision read (If-Match): a save over someone else's says so and offers to reload; a refused one shows
 * the server's answer.
 */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { ApiError } from "../../api/client";
import { useSaveSources, useSourcesValidation, type SourcesView, type ValidationAnswer } from "../../api/sources";
import { errorText } from "../../lib/formErrors";
import { editableDocument, parseYaml, sourcesOf, toYaml, withSources, type Problem } from "../../lib/sources";
import { useDebouncedValue } from "../../lib/useDebouncedInput";
import { Field, FormError } from "../forms";
import { useToast } from "../toasts";
import { SourceFields } from "./SourceFields";
import { ValidationPanel } from "./ValidationPanel";

type View = "form" | "yaml";
const VIEWS: [View, string][] = [
  ["form", "Form"],
  ["yaml", "YAML"],
];

interface Base {
  etag: string;
  revision: number | null;
  text: string;
}

function baseOf(view: SourcesView): Base {
  return { etag: view.etag, revision: view.revision, text: toYaml(editableDocument(view as unknown as Record<string, unknown>)) };
}

function isAnswer(value: unknown): value is ValidationAnswer {
  return typeof value === "object" && value !== null && "valid" in value && Array.isArray((value as { errors?: unknown }).errors);
}

function Conflict({ error, onReload, reloading }: { error: ApiError; onReload: () => void; reloading: boolean }) {
  return (
    <div role="alert" className="rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100" data-testid="sources-conflict">
      <p className="font-medium">Not saved: the sources changed since you read them.</p>
      <p className="mt-1">
        Someone saved another revision meanwhile. Reload the current document to see it, then make your change again (copy your YAML first if you
        want to keep it).
      </p>
      <p className="mt-1 text-xs muted">{error.message}</p>
      <button type="button" className="btn mt-2" onClick={onReload} disabled={reloading}>
        {reloading ? "Reloading…" : "Reload the current document"}
      </button>
    </div>
  );
}

export function SourcesEditor({ current, reload }: { current: SourcesView; reload: () => Promise<SourcesView | undefined> }) {
  const toast = useToast();
  const [base, setBase] = useState<Base>(() => baseOf(current));
  const [text, setTextState] = useState(base.text);
  const [view, setView] = useState<View>("form");
  const [message, setMessage] = useState("");
  const [reloading, setReloading] = useState(false);
  const dirty = text !== base.text;

  const reset = (fresh: SourcesView) => {
    const next = baseOf(fresh);
    setBase(next);
    setTextState(next.text);
  };

  // Someone else's save (or a rollback) while nothing is edited here: show it.
  const following = useRef({ dirty, base });
  following.current = { dirty, base };
  useEffect(() => {
    if (!following.current.dirty && current.etag !== following.current.base.etag) reset(current);
  }, [current]);

  const save = useSaveSources({
    onSuccess: (result) => {
      reset(result.current);
      setMessage("");
      const warned = result.warnings.length ? ` with ${result.warnings.length === 1 ? "1 warning" : `${result.warnings.length} warnings`}` : "";
      if (result.saved) toast(`Sources saved as revision ${result.current.revision ?? ""}${warned}`);
      else toast("Nothing changed: no revision was made", "info");
    },
  });

  const setText = (next: string) => {
    setTextState(next);
    if (save.error) save.reset();
  };

  const checked = useDebouncedValue(text, 400);
  const validation = useSourcesValidation(checked);
  const parsed = useMemo(() => parseYaml(text), [text]);
  const form = parsed.ok ? sourcesOf(parsed.value) : null;
  const formSources = form && "sources" in form ? form.sources : null;
  const answer = validation.data;
  const problems: Problem[] = answer ? [...answer.errors, ...answer.warnings] : [];

  const submit = () => {
    if (!parsed.ok) return;
    save.mutate({ document: parsed.value, etag: base.etag, message });
  };

  const doReload = async () => {
    setReloading(true);
    try {
      const fresh = await reload();
      if (fresh) reset(fresh);
      save.reset();
    } catch (error) {
      toast(`The sources could not be reloaded: ${errorText(error)}`, "error");
    } finally {
      setReloading(false);
    }
  };

  const tabs = useRef<(HTMLButtonElement | null)[]>([]);
  const onTabKey = (e: KeyboardEvent, index: number) => {
    const delta = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!delta) return;
    const next = (index + delta + VIEWS.length) % VIEWS.length;
    setView(VIEWS[next]![0]);
    tabs.current[next]?.focus();
  };

  const saveError = save.error;
  const conflict = saveError instanceof ApiError && saveError.status === 409 ? saveError : null;
  const refused = saveError instanceof ApiError && saveError.status === 422 && isAnswer(saveError.details) ? saveError.details : null;

  return (
    <div className="space-y-4" data-testid="sources-editor">
      <div role="tablist" aria-label="Editor view" className="flex gap-1 border-b border-stone-200 dark:border-stone-700">
        {VIEWS.map(([key, label], index) => (
          <button
            key={key}
            ref={(el) => {
              tabs.current[index] = el;
            }}
            type="button"
            role="tab"
            id={`sources-tab-${key}`}
            aria-selected={view === key}
            aria-controls={`sources-panel-${key}`}
            tabIndex={view === key ? 0 : -1}
            onKeyDown={(e) => onTabKey(e, index)}
            onClick={() => setView(key)}
            className={`-mb-px border-b-2 px-3 py-2 text-sm font-medium ${view === key ? "border-accent-600 text-accent-800 dark:text-accent-100" : "border-transparent muted"}`}
          >
            {label}
          </button>
        ))}
      </div>
      <div className="grid gap-4 lg:grid-cols-[minmax(0,1fr)_20rem]">
        <div role="tabpanel" id={`sources-panel-${view}`} aria-labelledby={`sources-tab-${view}`} className="min-w-0">
          {view === "yaml" ? (
            <Field id="sources-yaml" label="The sources document (YAML)" hint="apiVersion, kind and the list of sources; checked as you type.">
              <textarea
                id="sources-yaml"
                className="input min-h-80 w-full font-mono text-xs"
                rows={Math.min(40, Math.max(16, text.split("\n").length + 2))}
                value={text}
                onChange={(e) => setText(e.target.value)}
                spellCheck={false}
                autoCapitalize="off"
                autoComplete="off"
                aria-describedby="sources-yaml-hint"
                aria-invalid={answer?.valid === false || undefined}
              />
            </Field>
          ) : formSources ? (
            <SourceFields sources={formSources} problems={problems} onChange={(sources) => setText(toYaml(withSources(parsed.ok ? parsed.value : null, sources)))} />
          ) : (
            <div role="status" className="card p-4 text-sm">
              <p className="font-medium">The form cannot show this document.</p>
              <p className="mt-1">
                {parsed.ok ? (form && "reason" in form ? form.reason : "") : `The YAML does not parse${parsed.line ? ` (line ${parsed.line})` : ""}: ${parsed.message}.`}{" "}
                Fix it in the YAML view.
              </p>
              <button type="button" className="btn mt-2" onClick={() => setView("yaml")}>
                Open the YAML view
              </button>
            </div>
          )}
        </div>
        <div className="min-w-0 space-y-4">
          {refused ? (
            <ValidationPanel answer={refused} checking={false} failed={null} sources={formSources} heading="Not saved: the server refused it" />
          ) : (
            <ValidationPanel
              answer={answer}
              checking={validation.isFetching || checked !== text}
              failed={validation.isError ? errorText(validation.error) : null}
              sources={formSources}
            />
          )}
          <Field id="sources-message" label="Commit message" hint="Why: kept with the revision.">
            <input
              id="sources-message"
              className="input"
              value={message}
              maxLength={500}
              onChange={(e) => setMessage(e.target.value)}
              aria-describedby="sources-message-hint"
              placeholder="Add the platform repository"
            />
          </Field>
          {conflict && <Conflict error={conflict} onReload={() => void doReload()} reloading={reloading} />}
          {saveError && !conflict && !refused && <FormError error={saveError} title="The sources were not saved" />}
          <div className="flex flex-wrap items-center gap-2">
            <button type="button" className="btn btn-primary" onClick={submit} disabled={save.isPending || !parsed.ok || !dirty}>
              {save.isPending ? "Saving…" : "Save"}
            </button>
            <button type="button" className="btn" onClick={() => setText(base.text)} disabled={!dirty || save.isPending}>
              Discard changes
            </button>
            <span className="text-xs muted">
              {dirty ? "Unsaved changes" : "No changes"} · editing revision {base.revision ?? "none yet"}
            </span>
          </div>
        </div>
      </div>
    </div>
  );
}
