/**
 * The server's problems with what a form sent (the `details` of a 422, or the `{field}` of a 409): read per field for
 * the forms' own fields, and mapped onto react-jsonschema-form's error tree for the generated ones.
 */
import type { ErrorSchema } from "@rjsf/utils";
import { ApiError, type ErrorDetail } from "../api/client";

/** `"a.b[2].c"` -> `["a", "b", "2", "c"]`; `"(root)"` and `""` -> `[]`. */
export function fieldPath(field: string | undefined): string[] {
  if (!field || field === "(root)") return [];
  const parts: string[] = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) parts.push(match[1] ?? match[2] ?? "");
  return parts.filter((part) => part !== "");
}

/** An rjsf `extraErrors` tree holding each message at its field (or at the root when it names none). */
export function toErrorSchema(details: ErrorDetail[]): ErrorSchema {
  const root: Record<string, unknown> = {};
  for (const detail of details) {
    let node = root;
    for (const part of fieldPath(detail.field)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    const errors = (node.__errors ??= []) as string[];
    errors.push(detail.message);
  }
  return root as ErrorSchema;
}

/** The problems of an error: the list of `{field, message}`, or a single `{field}` object (409s) with its message. */
export function problemsOf(error: unknown): ErrorDetail[] {
  if (!(error instanceof ApiError)) return [];
  if (error.problems.length) return error.problems;
  const details = error.details as { field?: unknown } | null;
  if (details && typeof details === "object" && typeof details.field === "string") {
    return [{ field: details.field, message: error.message }];
  }
  return [];
}

/** True when a problem's field is `name` or inside it (`items[2]`, `name.first`). */
export function fieldMatches(field: string | undefined, name: string): boolean {
  if (!field) return false;
  return field === name || field.startsWith(`${name}[`) || field.startsWith(`${name}.`);
}

/** The messages of the problems about `name`. */
export function fieldMessages(error: unknown, name: string): string[] {
  return problemsOf(error)
    .filter((p) => fieldMatches(p.field, name))
    .map((p) => p.message);
}

/** Any thrown thing as one line for a toast. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A form's alert line: its title and the error's message, the message left out where it only says the title
 * again ("The password was not changed: the password was not changed"). */
export function alertText(title: string | undefined, message: string): string {
  if (!title) return message;
  const plain = (text: string) => text.trim().replace(/[.!]+$/, "").toLowerCase();
  return plain(message) === "" || plain(title).includes(plain(message)) ? title : `${title}: ${message}`;
}
