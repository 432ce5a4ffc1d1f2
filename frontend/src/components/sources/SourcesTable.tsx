/** The saved sources, each with its status: state badge (any state the server reports, named as it is), type,
 * where it reads from, which tags count, how often it is polled, and whether it is enabled. */
import { Link } from "react-router";
import { useRefreshSource, type SourceView } from "../../api/sources";
import { pollText, stateBadge } from "../../lib/sources";
import { useToast } from "../toasts";
import { Badge, TableHead } from "../ui";

const TYPE_LABELS: Record<string, string> = { git: "Git", folder: "Folder" };

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** What a status carries beyond its state (a refresh summary, an error…), as "key: value" lines. */
function statusDetails(status: Record<string, unknown>): [string, string][] {
  return Object.entries(status)
    .filter(([key, value]) => key !== "state" && value !== null && value !== undefined && typeof value !== "object" && value !== "")
    .map(([key, value]) => [key.replace(/_/g, " "), String(value)]);
}

interface ItemProblem {
  item_id?: string | null;
  version?: string | null;
  file?: string | null;
  line?: number | null;
  message: string;
}

function problemsOf(status: Record<string, unknown>): ItemProblem[] {
  return Array.isArray(status.problems) ? (status.problems as ItemProblem[]) : [];
}

function missingOf(status: Record<string, unknown>): string[] {
  return Array.isArray(status.versions_missing) ? status.versions_missing.map(String) : [];
}

/** The last refresh's per-item problems (one click away) and the versions gone from the source. */
function RefreshFindings({ sourceId, status }: { sourceId: string; status: Record<string, unknown> }) {
  const problems = problemsOf(status);
  const missing = missingOf(status);
  return (
    <>
      {problems.length > 0 && (
        <details className="mt-1 text-xs" data-testid={`problems-${sourceId}`}>
          <summary className="cursor-pointer text-red-700 dark:text-red-400">
            {problems.length} {problems.length === 1 ? "problem" : "problems"}
          </summary>
          <ul className="mt-1 grid gap-1">
            {problems.map((problem, index) => (
              <li key={index} className="break-words">
                <span className="font-mono">
                  {[problem.item_id, problem.version].filter(Boolean).join("@") || "(item)"}
                  {problem.file ? ` ${problem.file}${problem.line ? `:${problem.line}` : ""}` : ""}
                </span>
                : {problem.message}
              </li>
            ))}
          </ul>
        </details>
      )}
      {missing.length > 0 && (
        <details className="mt-1 text-xs">
          <summary className="cursor-pointer">{missing.length} gone from the source (kept in the catalog)</summary>
          <ul className="mt-1 font-mono">
            {missing.map((name) => (
              <li key={name}>{name}</li>
            ))}
          </ul>
        </details>
      )}
    </>
  );
}

/** Diagnostics: how many sources are in each state, the ones needing attention first. */
export function SourceStates({ sources }: { sources: SourceView[] }) {
  const counts = new Map<string, number>();
  for (const source of sources) {
    const state = (source.status as { state?: unknown } | null | undefined)?.state;
    const name = typeof state === "string" ? state : "unknown";
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const order = ["error", "refreshing", "available", "disabled"];
  const states = [...counts.entries()].sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  return (
    <ul className="mb-3 flex flex-wrap gap-2 text-sm" aria-label="Sources by state" data-testid="source-states">
      {states.map(([state, count]) => (
        <li key={state}>
          <Badge tone={stateBadge(state).tone}>
            {count} {stateBadge(state).label.toLowerCase()}
          </Badge>
        </li>
      ))}
    </ul>
  );
}

/** Refresh now: the refresh job is linked; a refusal (disabled, just refreshed: 429) is said in a toast. */
function RefreshButton({ source }: { source: SourceView }) {
  const toast = useToast();
  const refresh = useRefreshSource({
    onSuccess: (job) => toast(`Refreshing ${source.id}: job #${job.id}`),
    onError: (error) => toast(error.message, "error"),
  });
  return (
    <>
      <button
        type="button"
        className="btn"
        disabled={source.enabled === false || refresh.isPending}
        onClick={() => refresh.mutate(source.id)}
        aria-label={`Refresh ${source.id} now`}
      >
        Refresh
      </button>
      {refresh.data && (
        <Link className="link ml-2 text-xs" to={`/jobs/${refresh.data.id}`}>
          job #{refresh.data.id}
        </Link>
      )}
    </>
  );
}

export function SourcesTable({ sources }: { sources: SourceView[] }) {
  return (
    <div className="card relative overflow-x-auto">
      <table className="cards w-full text-left text-sm" data-testid="sources-table">
        <caption className="sr-only">Catalog sources, {sources.length} in all</caption>
        <TableHead columns={["Source", "State", "Type", "Location", "Tags", "Polled", "Enabled", "Actions"]} />
        <tbody>
          {sources.map((source) => {
            const status = (source.status ?? { state: "available" }) as Record<string, unknown>;
            const state = typeof status.state === "string" ? status.state : "unknown";
            const badge = stateBadge(state);
            const details = statusDetails(status);
            const secret = (source.credentials as { secret?: unknown } | null | undefined)?.secret;
            return (
              <tr key={source.id} className="border-t border-stone-200 align-top dark:border-stone-800" data-source={source.id}>
                <td className="px-3 py-2">
                  <span className="font-mono font-medium">{source.id}</span>
                </td>
                <td className="px-3 py-2">
                  <span data-state={state}>
                    <Badge tone={badge.tone}>{badge.label}</Badge>
                  </span>
                  {details.length > 0 && (
                    <ul className="mt-1 text-xs muted">
                      {details.map(([key, value]) => (
                        <li key={key}>
                          {key}: {value}
                        </li>
                      ))}
                    </ul>
                  )}
                  <RefreshFindings sourceId={source.id} status={status} />
                </td>
                <td className="px-3 py-2">{TYPE_LABELS[source.type] ?? source.type}</td>
                <td className="max-w-96 px-3 py-2">
                  <span className="font-mono text-xs break-all">
                    {source.type === "git" ? (
                      <>
                        {text(source.url) ?? "—"}
                        {text(source.path) && <span className="muted"> · {text(source.path)}</span>}
                        {typeof secret === "string" && <span className="block muted">credentials: secret {secret}</span>}
                      </>
                    ) : (
                      (text(source.path) ?? "—")
                    )}
                  </span>
                  {source.development === true && (
                    <span className="ml-1">
                      <Badge tone="amber">development</Badge>
                    </span>
                  )}
                  {source.webhook === true && (
                    <span className="ml-1">
                      <Badge tone="stone">webhook</Badge>
                    </span>
                  )}
                </td>
                <td className="px-3 py-2">{text(source.tags) ? <span className="font-mono text-xs">{text(source.tags)}</span> : <span className="muted">—</span>}</td>
                <td className="px-3 py-2 whitespace-nowrap">{pollText(source.poll_seconds)}</td>
                <td className="px-3 py-2">{source.enabled === false ? "No" : "Yes"}</td>
                <td className="px-3 py-2 whitespace-nowrap">
                  <RefreshButton source={source} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
