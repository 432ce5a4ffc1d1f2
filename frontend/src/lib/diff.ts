/** A flat, field-by-field comparison of two JSON values, for the audit drawer's before/after view. */

export type Change = "added" | "removed" | "changed" | "same";

export interface DiffRow {
  path: string;
  before: unknown;
  after: unknown;
  change: Change;
}

function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
  if (isObject && !prefix && Object.keys(value).length === 0) return; // nothing on that side
  if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      flatten(child, prefix ? `${prefix}.${key}` : key, out);
    }
  } else {
    out.set(prefix || "(value)", value);
  }
}

/** Every leaf path of `before` and `after` (objects are walked, arrays compared whole), sorted by path. */
export function diffValues(before: unknown, after: unknown): DiffRow[] {
  const left = new Map<string, unknown>();
  const right = new Map<string, unknown>();
  flatten(before ?? {}, "", left);
  flatten(after ?? {}, "", right);
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort();
  return paths.map((path) => {
    const a = left.get(path);
    const b = right.get(path);
    const change: Change = !left.has(path)
      ? "added"
      : !right.has(path)
        ? "removed"
        : JSON.stringify(a) === JSON.stringify(b)
          ? "same"
          : "changed";
    return { path, before: a, after: b, change };
  });
}
