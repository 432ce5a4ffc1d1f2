/** A version's latest test run: each case passed, failed or still running, with its job. */
import { Link } from "react-router";
import { useTestResults } from "../../api/catalogAdmin";
import { errorText } from "../../lib/formErrors";
import { Badge, Spinner } from "../ui";

export function TestResults({ itemId, version }: { itemId: string; version: string }) {
  const results = useTestResults(itemId, version);
  if (results.isPending) return <Spinner label="Loading tests" />;
  if (results.isError) return <p className="text-sm">{errorText(results.error)}</p>;
  const { passed, cases } = results.data;
  if (cases.length === 0) return <p className="text-sm muted">No test run for {version} (it may ship no tests/*.json).</p>;
  return (
    <div className="text-sm" data-testid="test-results">
      <p className="mb-1">
        {version}: {passed === null ? <Badge tone="amber">running</Badge> : passed ? <Badge tone="green">passed</Badge> : <Badge tone="red">failed</Badge>}
      </p>
      <ul>
        {cases.map((c) => (
          <li key={c.name}>
            {c.passed === null ? "…" : c.passed ? "✓" : "✗"} <span className="font-mono">{c.name}</span> ({c.reason}) ·{" "}
            <Link className="link" to={`/jobs/${c.job_id}`}>
              job #{c.job_id}
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
