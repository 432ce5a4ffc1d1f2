/**
 * Which item versions a secret is granted to: the picker of the secret form (an item, and for each a semver range
 * or, left empty, the versions that exist now) and the grants and uncovered versions shown in the secrets table.
 */
import { useState } from "react";
import { Link } from "react-router";
import type { Item, Schemas } from "../../api/client";
import { Spinner } from "../ui";

type Uncovered = Schemas["UncoveredVersion"];

/** `item@range` as [item, range]; a bare `item` has the range "". */
export function splitGrant(entry: string): [string, string] {
  const at = entry.indexOf("@");
  return at < 0 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1)];
}

export function joinGrant(item: string, range: string): string {
  return range.trim() ? `${item}@${range.trim()}` : item;
}

/** Checkboxes for the catalog's items (plus any granted item the catalog no longer lists), each checked one with
 * the versions it covers. */
export function GrantPicker({
  items,
  loading,
  loadError,
  selected,
  onChange,
  errors,
}: {
  items: Item[];
  loading: boolean;
  loadError: string | null;
  selected: string[];
  onChange: (entries: string[]) => void;
  errors: string[];
}) {
  const [filter, setFilter] = useState("");
  const ranges = new Map(selected.map((entry) => splitGrant(entry)));
  const known = new Set(items.map((i) => i.id));
  const rows: { id: string; name: string; missing: boolean }[] = [
    ...[...ranges.keys()].filter((id) => !known.has(id)).map((id) => ({ id, name: id, missing: true })),
    ...items.map((i) => ({ id: i.id, name: i.name, missing: false })),
  ];
  const needle = filter.trim().toLowerCase();
  const visible = needle ? rows.filter((r) => r.id.toLowerCase().includes(needle) || r.name.toLowerCase().includes(needle)) : rows;
  const update = (next: Map<string, string>) => onChange([...next].map(([id, range]) => joinGrant(id, range)));
  const toggle = (id: string, on: boolean) => {
    const next = new Map(ranges);
    if (on) next.set(id, "");
    else next.delete(id);
    update(next);
  };
  const setRange = (id: string, range: string) => update(new Map(ranges).set(id, range));
  return (
    <fieldset aria-describedby={errors.length ? "secret-items-hint secret-items-error" : "secret-items-hint"}>
      <legend className="mb-1 text-sm font-medium">
        Granted items <span className="font-normal muted">({ranges.size} selected)</span>
      </legend>
      <p id="secret-items-hint" className="mb-2 text-xs muted">
        Only jobs of these items receive the secret, when their version declares it and is covered. Versions: a semver range such as{" "}
        <span className="font-mono">^1.2.0</span> (future versions in it included), or empty for the versions that exist now (later ones
        must be extended to).
      </p>
      {rows.length > 8 && (
        <>
          <label htmlFor="secret-items-filter" className="sr-only">
            Filter items
          </label>
          <input
            id="secret-items-filter"
            type="search"
            className="input mb-2"
            placeholder="Filter items"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
          />
        </>
      )}
      {loading ? (
        <Spinner label="Loading the catalog" />
      ) : (
        <>
          {loadError && <p className="mb-2 text-sm text-red-700 dark:text-red-400">The catalog could not be loaded: {loadError}</p>}
          {rows.length === 0 ? (
            <p className="text-sm muted">The catalog has no items yet.</p>
          ) : (
            <ul className="max-h-72 space-y-1 overflow-y-auto rounded-md border border-stone-200 p-2 dark:border-stone-700">
              {visible.map((row) => (
                <li key={row.id} className="flex flex-wrap items-start gap-2 text-sm">
                  <input
                    id={`grant-${row.id}`}
                    type="checkbox"
                    className="mt-1 accent-accent-600"
                    checked={ranges.has(row.id)}
                    onChange={(e) => toggle(row.id, e.target.checked)}
                  />
                  <label htmlFor={`grant-${row.id}`} className="min-w-0 flex-1">
                    <span className="font-mono">{row.id}</span>
                    {row.missing ? (
                      <span className="ml-1 text-xs text-amber-800 dark:text-amber-300">(not in the catalog)</span>
                    ) : (
                      row.name !== row.id && <span className="ml-1 muted">{row.name}</span>
                    )}
                  </label>
                  {ranges.has(row.id) && (
                    <>
                      <label htmlFor={`grant-range-${row.id}`} className="sr-only">
                        Versions of {row.id}
                      </label>
                      <input
                        id={`grant-range-${row.id}`}
                        className="input w-56 py-0.5 font-mono text-xs"
                        placeholder="the versions that exist now"
                        spellCheck={false}
                        autoComplete="off"
                        value={ranges.get(row.id) ?? ""}
                        onChange={(e) => setRange(row.id, e.target.value)}
                      />
                    </>
                  )}
                </li>
              ))}
              {visible.length === 0 && <li className="text-sm muted">No item matches “{filter}”.</li>}
            </ul>
          )}
        </>
      )}
      {errors.length > 0 && (
        <p id="secret-items-error" className="mt-1 text-sm text-red-700 dark:text-red-400">
          {errors.join("; ")}
        </p>
      )}
    </fieldset>
  );
}

/** A secret's grants as chips linking to their items, and the versions that ask for it uncovered, each with Extend. */
export function GrantList({
  secret,
  names,
  extending,
  onExtend,
}: {
  secret: Schemas["SecretOut"];
  names: Map<string, string>;
  extending: string | null;
  onExtend: (version: Uncovered) => void;
}) {
  return (
    <>
      {secret.items.length === 0 ? (
        <span className="muted">none</span>
      ) : (
        <ul className="flex flex-wrap gap-1">
          {secret.items.map((entry) => {
            const [id, range] = splitGrant(entry);
            return (
              <li key={entry}>
                <Link
                  to={`/catalog/${encodeURIComponent(id)}`}
                  className="inline-block rounded-full bg-stone-100 px-2 py-0.5 font-mono text-xs hover:underline dark:bg-stone-800"
                  title={names.get(id) ?? `${id} (not in the catalog)`}
                >
                  {id}
                  {range && <span className="muted"> {range}</span>}
                </Link>
              </li>
            );
          })}
        </ul>
      )}
      {secret.uncovered.length > 0 && (
        <ul className="mt-2 space-y-1" aria-label={`Versions waiting for ${secret.name}`}>
          {secret.uncovered.map((version) => {
            const key = `${version.item_id}@${version.version}`;
            return (
              <li key={key} className="flex flex-wrap items-center gap-2 text-xs text-amber-800 dark:text-amber-300">
                <span>
                  <span className="font-mono">{version.item_id}</span> {version.version} declares it but is not granted
                </span>
                <button
                  type="button"
                  className="btn py-0.5 text-xs"
                  disabled={extending === key}
                  onClick={() => onExtend(version)}
                  aria-label={`Extend ${secret.name} to ${version.item_id} ${version.version}`}
                >
                  Extend
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}
