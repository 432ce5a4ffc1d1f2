/**
 * The catalog sources document as the editor handles it: YAML text (the one state both views edit), the parsed
 * document the form view shows, the sources' defaults per type, and the validation answer's problems by source.
 */
import { parseDocument, stringify } from "yaml";

/** A source as the form edits it: the known fields, and whatever else the YAML holds (kept, and refused by the
 * server when unknown). */
export type Source = Record<string, unknown>;
export type SourceType = "git" | "folder";

/** A problem of the validation answer (`{field, line, message}`). */
export interface Problem {
  field: string;
  line?: number | null;
  message: string;
}

/** What `GET` adds to the document (the server drops them from a save): left out of the editor. */
const READ_ONLY = ["revision", "etag", "author", "created_at", "message"];

export const EMPTY_DOCUMENT = { apiVersion: "portal/v1", kind: "CatalogSources", sources: [] as Source[] };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The document a `GET` answered, without its read-only parts (revision, ETag, each source's status). */
export function editableDocument(view: Record<string, unknown>): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(view)) {
    if (READ_ONLY.includes(key)) continue;
    doc[key] =
      key === "sources" && Array.isArray(value)
        ? value.map((source: unknown) => {
            if (!isRecord(source)) return source;
            const { status: _status, ...rest } = source;
            return rest;
          })
        : value;
  }
  return doc;
}

/** The document as YAML text (keys in their order; long strings not folded). */
export function toYaml(doc: unknown): string {
  return stringify(doc, { lineWidth: 0 });
}

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string; line: number | null };

/** YAML text read as the server reads it (YAML 1.2, duplicate keys refused), or its first problem and line. */
export function parseYaml(text: string): Parsed {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const error = doc.errors[0];
  if (error) {
    const first = (error.message.split("\n")[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, "");
    return { ok: false, message: first, line: error.linePos?.[0].line ?? null };
  }
  return { ok: true, value: doc.toJS() };
}

/**
 * The sources of a parsed document when the form view can show them, else why not (the YAML view can always show
 * it). A document without `sources` has none.
 */
export function sourcesOf(doc: unknown): { sources: Source[] } | { reason: string } {
  if (!isRecord(doc)) return { reason: "The document is not a mapping (apiVersion, kind, sources)." };
  const sources = doc.sources ?? [];
  if (!Array.isArray(sources)) return { reason: "`sources` is not a list." };
  const index = sources.findIndex((source) => !isRecord(source));
  if (index >= 0) return { reason: `sources[${index}] is not a mapping.` };
  return { sources: sources as Source[] };
}

/** The document with its sources replaced. */
export function withSources(doc: unknown, sources: Source[]): Record<string, unknown> {
  return { ...(isRecord(doc) ? doc : EMPTY_DOCUMENT), sources };
}

/** A source with `patch` applied: an `undefined` value removes the field. */
export function patchSource(source: Source, patch: Record<string, unknown>): Source {
  const next: Source = { ...source };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  return next;
}

/** An id not taken yet: `base`, `base-2`, `base-3`… */
export function freeId(base: string, taken: Iterable<unknown>): string {
  const used = new Set(taken);
  if (!used.has(base)) return base;
  for (let n = 2; ; n += 1) if (!used.has(`${base}-${n}`)) return `${base}-${n}`;
}

/** A new source of a type, with the server's defaults written out. */
export function newSource(type: SourceType, takenIds: Iterable<unknown> = []): Source {
  const id = freeId(type === "git" ? "repository" : "folder", takenIds);
  return type === "git"
    ? { id, type, url: "", tags: "*@*", path: "items", credentials: null, poll_seconds: 300, webhook: false, enabled: true }
    : { id, type, path: "", poll_seconds: 300, development: false, enabled: true };
}

/** The source as another type: its id, poll interval and enabled kept, the other type's fields (which the server
 * would refuse as unknown) replaced by the new type's defaults. */
export function changeType(source: Source, type: SourceType): Source {
  if (source.type === type) return source;
  const fresh = newSource(type);
  const kept: Source = { id: source.id };
  if (source.poll_seconds !== undefined) kept.poll_seconds = source.poll_seconds;
  if (source.enabled !== undefined) kept.enabled = source.enabled;
  return { ...fresh, ...kept };
}

/** What a number field typed holds: a whole number when it is one, else the text (which the server refuses with
 * its reason), and nothing when empty (the default applies). */
export function numberOrText(text: string): number | string | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** The index of the source a problem's field is in (`sources[2].url` -> 2), null for the document's own. */
export function sourceIndex(field: string): number | null {
  const match = /^sources\[(\d+)\]/.exec(field);
  return match ? Number(match[1]) : null;
}

/** The field inside its source (`sources[2].credentials.secret` -> `credentials.secret`), "" for the source. */
export function fieldInSource(field: string): string {
  return field.replace(/^sources\[\d+\]\.?/, "");
}

export interface ProblemGroup {
  /** null: about the document as a whole. */
  source: number | null;
  problems: Problem[];
}

/** Problems grouped by source, the document's own first, then by source in order; each group by line. */
export function groupProblems(problems: Problem[]): ProblemGroup[] {
  const groups = new Map<number | null, Problem[]>();
  for (const problem of problems) {
    const key = sourceIndex(problem.field);
    groups.set(key, [...(groups.get(key) ?? []), problem]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === null ? -1 : b === null ? 1 : a - b))
    .map(([source, list]) => ({ source, problems: [...list].sort((x, y) => (x.line ?? 0) - (y.line ?? 0)) }));
}

/** The messages about one field of one source (`url`, or `credentials` for `credentials.secret` too; "" for the
 * source itself). */
export function messagesAt(problems: Problem[], index: number, name: string): string[] {
  const prefix = `sources[${index}]`;
  return problems
    .filter((p) => {
      if (!p.field.startsWith(prefix) || sourceIndex(p.field) !== index) return false;
      const inner = fieldInSource(p.field);
      if (name === "") return inner === "";
      return inner === name || inner.startsWith(`${name}.`) || inner.startsWith(`${name}[`);
    })
    .map((p) => p.message);
}

/** A source's label in a problem list: its id when the document gives one, else its place. */
export function sourceLabel(sources: readonly unknown[] | null, index: number): string {
  const source = sources?.[index];
  const id = isRecord(source) && typeof source.id === "string" && source.id ? source.id : null;
  return id ? `Source ${id}` : `Source ${index + 1}`;
}

/** The words a source status's state shows as, and its colour; any state the server adds shows as it is named. */
export function stateBadge(state: string): { label: string; tone: "green" | "stone" | "red" | "amber" } {
  if (state === "available") return { label: "Available", tone: "green" };
  if (state === "disabled") return { label: "Disabled", tone: "stone" };
  if (state === "error") return { label: "Error", tone: "red" };
  const words = state.replace(/[_-]+/g, " ").trim();
  return { label: words.charAt(0).toUpperCase() + words.slice(1), tone: "amber" };
}

/** "every 5 min", "every 1 h 30 min", "never" (0): a poll interval in words. */
export function pollText(seconds: unknown): string {
  if (typeof seconds !== "number") return seconds === undefined ? "every 5 min" : String(seconds);
  if (seconds === 0) return "never";
  if (seconds < 60) return `every ${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `every ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `every ${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
}
