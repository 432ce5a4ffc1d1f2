/** The form view of the sources document: one group of fields per source (by its type), the validation answer's
 * problems under the fields they are about, and adding and removing sources. */
import type { ReactNode } from "react";
import { changeType, messagesAt, newSource, numberOrText, patchSource, type Problem, type Source, type SourceType } from "../../lib/sources";
import { Field, FieldError, fieldAria } from "../forms";

function str(value: unknown): string {
  return value === undefined || value === null ? "" : String(value);
}

function TextField({
  id,
  label,
  hint,
  value,
  errors,
  onChange,
  placeholder,
  mono = true,
  numeric = false,
}: {
  id: string;
  label: string;
  hint?: ReactNode;
  value: unknown;
  errors: string[];
  onChange: (value: string) => void;
  placeholder?: string;
  mono?: boolean;
  numeric?: boolean;
}) {
  return (
    <Field id={id} label={label} hint={hint} errors={errors}>
      <input
        id={id}
        className={`input ${mono ? "font-mono" : ""}`}
        value={str(value)}
        onChange={(e) => onChange(e.target.value)}
        placeholder={placeholder}
        inputMode={numeric ? "numeric" : undefined}
        autoComplete="off"
        spellCheck={false}
        {...fieldAria(id, errors, Boolean(hint))}
      />
    </Field>
  );
}

function Check({ id, label, checked, errors, onChange }: { id: string; label: string; checked: boolean; errors: string[]; onChange: (checked: boolean) => void }) {
  return (
    <div>
      <label htmlFor={id} className="inline-flex items-center gap-2 text-sm">
        <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} {...fieldAria(id, errors)} />
        {label}
      </label>
      <FieldError id={`${id}-error`} messages={errors} />
    </div>
  );
}

function SourceCard({
  source,
  index,
  problems,
  onChange,
  onRemove,
}: {
  source: Source;
  index: number;
  problems: Problem[];
  onChange: (source: Source) => void;
  onRemove: () => void;
}) {
  const at = (name: string) => messagesAt(problems, index, name);
  const set = (patch: Record<string, unknown>) => onChange(patchSource(source, patch));
  const id = (name: string) => `source-${index}-${name}`;
  const name = str(source.id) || `${index + 1}`;
  const isGit = source.type === "git";
  const secret = (source.credentials as { secret?: unknown } | null | undefined)?.secret;
  const own = at("");
  return (
    <fieldset className="card space-y-3 p-4" data-source-form={index} aria-describedby={own.length ? `${id("self")}-error` : undefined}>
      <legend className="px-1 text-sm font-semibold">Source {name}</legend>
      <FieldError id={`${id("self")}-error`} messages={own} />
      <div className="grid gap-3 sm:grid-cols-2">
        <TextField id={id("id")} label="Id" hint="Lower-case letters, digits, '_' and '-'; unique." value={source.id} errors={at("id")} onChange={(v) => set({ id: v })} />
        <Field id={id("type")} label="Type" errors={at("type")}>
          <select
            id={id("type")}
            className="input"
            value={str(source.type)}
            onChange={(e) => onChange(changeType(source, e.target.value as SourceType))}
            {...fieldAria(id("type"), at("type"))}
          >
            {source.type !== "git" && source.type !== "folder" && <option value={str(source.type)}>{str(source.type) || "(none)"}</option>}
            <option value="git">Git repository</option>
            <option value="folder">Local folder</option>
          </select>
        </Field>
        {isGit ? (
          <>
            <TextField id={id("url")} label="Repository URL" hint="https://, ssh:// or user@host:path" value={source.url} errors={at("url")} onChange={(v) => set({ url: v })} placeholder="https://git.example.com/ops/catalog.git" />
            <TextField id={id("tags")} label="Tags" hint="Which tags count, as id@version globs: *@*, backup-*@*" value={source.tags} errors={at("tags")} onChange={(v) => set({ tags: v || undefined })} placeholder="*@*" />
            <TextField id={id("path")} label="Folder in the repository" hint="Where the items are (default items)." value={source.path} errors={at("path")} onChange={(v) => set({ path: v || undefined })} placeholder="items" />
            <TextField
              id={id("secret")}
              label="Credentials secret"
              hint="The name of an admin secret (a token for HTTPS, a private key for SSH); empty for a public repository."
              value={secret}
              errors={at("credentials")}
              onChange={(v) => set({ credentials: v ? { secret: v } : null })}
              placeholder="CATALOG_DEPLOY_TOKEN"
            />
          </>
        ) : (
          <TextField id={id("path")} label="Folder" hint="Absolute, or relative to an allowed root." value={source.path} errors={at("path")} onChange={(v) => set({ path: v })} placeholder="/srv/catalog" />
        )}
        <TextField
          id={id("poll")}
          label="Poll every (seconds)"
          hint="60 to 86400, or 0: never polled (default 300)."
          value={source.poll_seconds}
          errors={at("poll_seconds")}
          onChange={(v) => set({ poll_seconds: numberOrText(v) })}
          numeric
        />
      </div>
      <div className="flex flex-wrap items-start gap-x-6 gap-y-2">
        {isGit ? (
          <Check id={id("webhook")} label="Accept its webhook" checked={source.webhook === true} errors={at("webhook")} onChange={(v) => set({ webhook: v })} />
        ) : (
          <Check id={id("development")} label="Development mode (run from the folder)" checked={source.development === true} errors={at("development")} onChange={(v) => set({ development: v })} />
        )}
        <Check id={id("enabled")} label="Enabled" checked={source.enabled !== false} errors={at("enabled")} onChange={(v) => set({ enabled: v })} />
        <button type="button" className="btn ml-auto" onClick={onRemove} aria-label={`Remove source ${name}`}>
          Remove
        </button>
      </div>
    </fieldset>
  );
}

export function SourceFields({ sources, problems, onChange }: { sources: Source[]; problems: Problem[]; onChange: (sources: Source[]) => void }) {
  const add = (type: SourceType) => onChange([...sources, newSource(type, sources.map((s) => s.id))]);
  return (
    <div className="space-y-4">
      {sources.length === 0 && <p className="text-sm muted">No sources yet: add one.</p>}
      {sources.map((source, index) => (
        <SourceCard
          key={index}
          source={source}
          index={index}
          problems={problems}
          onChange={(next) => onChange(sources.map((s, i) => (i === index ? next : s)))}
          onRemove={() => onChange(sources.filter((_, i) => i !== index))}
        />
      ))}
      <div className="flex flex-wrap gap-2">
        <button type="button" className="btn" onClick={() => add("git")}>
          Add a Git source
        </button>
        <button type="button" className="btn" onClick={() => add("folder")}>
          Add a folder source
        </button>
      </div>
    </div>
  );
}
