/**
 * Formatted, collapsible JSON. Nodes render their children only when expanded and long arrays or objects
 * show a bounded number of entries at a time, so a multi-megabyte result never freezes the page.
 */
import { useState } from "react";

const PAGE = 100;
const LONG_STRING = 2000;

function Scalar({ value }: { value: unknown }) {
  const [full, setFull] = useState(false);
  if (value === null) return <span className="text-stone-600 dark:text-stone-400">null</span>;
  if (typeof value === "string") {
    const text = full || value.length <= LONG_STRING ? value : `${value.slice(0, LONG_STRING)}…`;
    return (
      <span className="break-all text-green-800 dark:text-green-300">
        "{text}"
        {value.length > LONG_STRING && !full && (
          <button className="link ml-1 text-xs" onClick={() => setFull(true)}>
            show all {value.length.toLocaleString()} characters
          </button>
        )}
      </span>
    );
  }
  if (typeof value === "number") return <span className="text-sky-800 dark:text-sky-300">{String(value)}</span>;
  return <span className="text-violet-800 dark:text-violet-300">{String(value)}</span>;
}

function Node({ name, value, depth }: { name: string | null; value: unknown; depth: number }) {
  const isContainer = value !== null && typeof value === "object";
  const [open, setOpen] = useState(depth < 2);
  const [shown, setShown] = useState(PAGE);
  const label = name !== null ? <span className="text-stone-600 dark:text-stone-400">{name}: </span> : null;
  if (!isContainer) {
    return (
      <div className="pl-4">
        {label}
        <Scalar value={value} />
      </div>
    );
  }
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, unknown>);
  const [openMark, closeMark] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return (
    <div className="pl-4">
      <button
        className="-ml-4 w-4 text-stone-600 dark:text-stone-400"
        aria-expanded={open}
        aria-label={`${open ? "Collapse" : "Expand"} ${name ?? "value"}`}
        onClick={() => setOpen(!open)}
      >
        {open ? "▾" : "▸"}
      </button>
      {label}
      {openMark}
      {!open && (
        <span className="text-stone-600 dark:text-stone-400">
          {" "}
          {entries.length} {entries.length === 1 ? "entry" : "entries"} {closeMark}
        </span>
      )}
      {open && (
        <>
          {entries.slice(0, shown).map(([key, child]) => (
            <Node key={key} name={Array.isArray(value) ? null : key} value={child} depth={depth + 1} />
          ))}
          {entries.length > shown && (
            <button className="link pl-4 text-xs" onClick={() => setShown(shown + PAGE)}>
              show {Math.min(PAGE, entries.length - shown)} more of {entries.length - shown}
            </button>
          )}
          <div>{closeMark}</div>
        </>
      )}
    </div>
  );
}

export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <div aria-label={label} role="group" className="overflow-x-auto rounded-md bg-stone-100 p-3 font-mono text-xs leading-5 dark:bg-stone-950">
      <Node name={null} value={value} depth={0} />
    </div>
  );
}
