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
