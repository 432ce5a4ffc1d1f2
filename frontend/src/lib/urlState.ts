/** Filters, search, sort and paging that live in the URL's query string, so a view can be linked and reloaded. */
import { useCallback, useMemo, useRef } from "react";
import { useSearchParams } from "react-router";

export type ParamValues = Record<string, string>;

/** The values of `defaults`' keys read from `search`, falling back to the defaults. */
export function readParams<T extends ParamValues>(search: URLSearchParams, defaults: T): T {
  const values: ParamValues = {};
  for (const [key, fallback] of Object.entries(defaults)) values[key] = search.get(key) ?? fallback;
  return values as T;
}

/**
 * A new query string with `patch` applied: values equal to their default are dropped (short URLs), and a change to
 * anything but `page` sends the user back to page 1, since the old page may not exist in the new result.
 */
export function writeParams<T extends ParamValues>(
  search: URLSearchParams,
  defaults: T,
  patch: Partial<T>,
): URLSearchParams {
  const next = new URLSearchParams(search);
  const resetsPage = Object.keys(patch).some((key) => key !== "page");
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined || value === defaults[key] || value === "") next.delete(key);
    else next.set(key, value);
  }
  if (resetsPage && "page" in defaults && !("page" in patch)) next.delete("page");
  return next;
}

/** `[values, update]` for the given defaults; `update` replaces the history entry for typing, pushes otherwise. */
export function useUrlState<T extends ParamValues>(
  defaults: T,
): [T, (patch: Partial<T>, options?: { replace?: boolean }) => void] {
  const [search, setSearch] = useSearchParams();
  // Callers pass literal defaults: the first ones are kept so the callbacks stay stable across renders.
  const fixed = useRef(defaults).current;
  const values = useMemo(() => readParams(search, fixed), [search, fixed]);
  const update = useCallback(
    (patch: Partial<T>, options?: { replace?: boolean }) =>
      setSearch((current) => writeParams(current, fixed, patch), { replace: options?.replace ?? false }),
    [setSearch, fixed],
  );
  return [values, update];
}
