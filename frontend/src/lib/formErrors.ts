/** Maps the server's 422 `details` (`{"field": "devices[1]", "message"}`) onto react-jsonschema-form's error tree. */
import type { ErrorSchema } from "@rjsf/utils";
import type { ErrorDetail } from "../api/client";

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
