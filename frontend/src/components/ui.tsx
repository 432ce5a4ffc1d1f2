/** Small shared pieces: state and coloured badges, progress bars, times, spinners, empty states, the connection dot,
 * table heads and page sections. */
import type { ReactNode } from "react";
import { Link } from "react-router";
import type { JobState } from "../api/client";
import type { ConnectionStatus } from "../lib/ws";

const STATE_STYLES: Record<JobState, string> = {
  PENDING_APPROVAL: "bg-violet-100 text-violet-800 ring-violet-300 dark:bg-violet-950 dark:text-violet-200 dark:ring-violet-800",
  QUEUED: "bg-stone-100 text-stone-800 ring-stone-300 dark:bg-stone-800 dark:text-stone-200 dark:ring-stone-600",
  RUNNING: "bg-sky-100 text-sky-800 ring-sky-300 dark:bg-sky-950 dark:text-sky-200 dark:ring-sky-800",
  SUCCEEDED: "bg-green-100 text-green-800 ring-green-300 dark:bg-green-950 dark:text-green-200 dark:ring-green-800",
  FAILED: "bg-red-100 text-red-800 ring-red-300 dark:bg-red-950 dark:text-red-200 dark:ring-red-800",
  CANCELLED: "bg-amber-100 text-amber-900 ring-amber-300 dark:bg-amber-950 dark:text-amber-200 dark:ring-amber-800",
  REJECTED: "bg-orange-100 text-orange-900 ring-orange-300 dark:bg-orange-950 dark:text-orange-200 dark:ring-orange-800",
};

export const JOB_STATES = Object.keys(STATE_STYLES) as JobState[];
export const FINISHED_STATES: JobState[] = ["SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"];

/** The kinds of job (`GET /api/jobs?kind=`) and what the tables call them. */
export const JOB_KINDS: [string, string][] = [
  ["catalog_execution", "Run"],
  ["catalog_import", "Import"],
  ["catalog_test", "Test"],
  ["catalog_dry_run", "Dry run"],
];

export function kindLabel(kind: string): string {
  return JOB_KINDS.find(([value]) => value === kind)?.[1] ?? kind;
}

const STATE_LABELS: Record<JobState, string> = {
  PENDING_APPROVAL: "Pending approval",
  QUEUED: "Queued",
  RUNNING: "Running",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
  REJECTED: "Rejected",
};

/** The one name of a state, everywhere the UI shows one ("Pending approval"); lower-case it inside a sentence. */
export function stateLabel(state: string): string {
  return isJobState(state) ? STATE_LABELS[state] : state;
}

function isJobState(value: string): value is JobState {
  return value in STATE_LABELS;
}

export function StateBadge({ state }: { state: JobState }) {
  return (
    <span
      data-state={state}
      className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset ${STATE_STYLES[state]}`}
    >
      {stateLabel(state)}
    </span>
  );
}

// A bar's colour says how its job ended: the same hues as the state badges.
const BAR_COLOURS: Partial<Record<JobState, string>> = {
  PENDING_APPROVAL: "bg-violet-400",
  QUEUED: "bg-stone-400",
  SUCCEEDED: "bg-green-600",
  FAILED: "bg-red-600",
  CANCELLED: "bg-amber-500",
  REJECTED: "bg-orange-500",
};

/** A progress bar: striped while running; coloured by the job's state when one is given. */
export function ProgressBar({ value, running, label, state }: { value: number; running: boolean; label: string; state?: JobState }) {
  const pct = Math.max(0, Math.min(100, value));
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct}
      data-progress-state={state}
      className="h-2 w-full overflow-hidden rounded-full bg-stone-200 dark:bg-stone-800"
    >
      <div
        className={`h-full rounded-full ${(state && BAR_COLOURS[state]) ?? "bg-accent-600"} transition-[width] duration-300 ${running ? "progress-stripes" : ""}`}
        style={{ width: `${pct}%` }}
      />
    </div>
  );
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 31_536_000],
  ["month", 2_592_000],
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "3 minutes ago" for a timestamp, relative to `now` (milliseconds). */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") return relative.format(Math.round(seconds / size), unit);
  }
  return "";
}

/** A relative time with the exact local time on hover (and for screen readers, in `dateTime`). */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">—</span>;
  const exact = new Date(iso).toLocaleString();
  return (
    <time dateTime={iso} title={exact}>
      {relativeTime(iso)}
    </time>
  );
}

/** "1.2 s", "3 min 4 s": the length of a span of time. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <span role="status" className="inline-flex items-center gap-2 text-sm muted">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-stone-300 border-t-accent-600" aria-hidden />
      {label}…
    </span>
  );
}

export function Empty({ title, children }: { title: string; children?: React.ReactNode }) {
  return (
    <div className="card flex flex-col items-center gap-2 p-10 text-center">
      <p className="font-medium">{title}</p>
      {children && <div className="text-sm muted">{children}</div>}
    </div>
  );
}

const CONNECTION: Record<ConnectionStatus, [string, string]> = {
  open: ["bg-green-500", "Live"],
  connecting: ["bg-amber-400", "Connecting"],
  reconnecting: ["bg-amber-500 animate-pulse", "Reconnecting"],
  closed: ["bg-stone-400", "Offline"],
};

export function ConnectionDot({ status }: { status: ConnectionStatus }) {
  const [colour, label] = CONNECTION[status];
  return (
    <span className="inline-flex items-center gap-1.5 text-xs muted" data-connection={status} title={`Live updates: ${label}`}>
      <span className={`h-2 w-2 rounded-full ${colour}`} aria-hidden />
      {label}
    </span>
  );
}

/** Links to jobs, comma-separated: "#12, #15". */
export function JobLinks({ ids }: { ids: number[] }) {
  return (
    <>
      {ids.map((id, i) => (
        <span key={id}>
          {i > 0 && ", "}
          <Link to={`/jobs/${id}`} className="link">
            #{id}
          </Link>
        </span>
      ))}
    </>
  );
}

const BADGE = "inline-flex items-center rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset";
const TONES = {
  green: "bg-green-100 text-green-800 ring-green-300 dark:bg-green-950 dark:text-green-200 dark:ring-green-800",
  red: "bg-red-100 text-red-800 ring-red-300 dark:bg-red-950 dark:text-red-200 dark:ring-red-800",
  stone: "bg-stone-100 text-stone-800 ring-stone-300 dark:bg-stone-800 dark:text-stone-200 dark:ring-stone-600",
  amber: "bg-amber-100 text-amber-900 ring-amber-300 dark:bg-amber-950 dark:text-amber-200 dark:ring-amber-800",
} as const;

/** A badge's colour. */
export type Tone = keyof typeof TONES;

export function Badge({ tone, children, title }: { tone: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`${BADGE} ${TONES[tone]}`} title={title}>
      {children}
    </span>
  );
}

const TH = "px-3 py-2";

/** A table's header row: `null` is a column of actions, named for screen readers only. */
export function TableHead({ columns }: { columns: (string | null)[] }) {
  return (
    <thead className="bg-stone-100 text-xs uppercase tracking-wide text-stone-600 dark:bg-stone-800 dark:text-stone-300">
      <tr>
        {columns.map((label, i) => (
          <th key={label ?? `actions-${i}`} scope="col" className={TH}>
            {label ?? <span className="sr-only">Actions</span>}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** A card with a heading for the sections of a page. */
export function Section({ id, title, actions, children }: { id: string; title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section aria-labelledby={id} className="mt-8">
      <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
        <h2 id={id} className="text-lg font-semibold">
          {title}
        </h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** Previous and next for a paged table, with where the reader is ("Page 2 of 5 · 230 items"). */
export function Pager({ page, pages, total, noun, onPage }: { page: number; pages: number; total: number; noun: string; onPage: (page: number) => void }) {
  return (
    <nav aria-label="Pages" className="mt-3 flex items-center gap-2 text-sm">
      <button type="button" className="btn" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {pages} · {total} {noun}
      </span>
      <button type="button" className="btn" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
