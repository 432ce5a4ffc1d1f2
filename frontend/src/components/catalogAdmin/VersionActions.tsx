/**
 * What a maintainer does to one version on the admin item page: move it along its lifecycle (with the reason the
 * server asks for, and, when other items depend on it, a second confirmation naming them), open its review, promote
 * it to a channel, run its tests, or dry-run it with sample inputs.
 */
import { useState } from "react";
import { Link } from "react-router";
import { ApiError } from "../../api/client";
import {
  useDryRun,
  useRunTests,
  useSetChannel,
  useTransition,
  type AdminVersion,
} from "../../api/catalogAdmin";
import { Dialog } from "../Dialog";
import { useToast } from "../toasts";
import { errorText } from "../../lib/formErrors";
import { movesFrom, reviewPath, stateLabel, type Move } from "./lifecycle";

/** The dependents a 409 names (other items' versions that need this one), if that is why it was refused. */
function dependentsOf(error: unknown): string[] {
  if (!(error instanceof ApiError) || error.status !== 409) return [];
  const details = error.details as { dependents?: unknown } | null | undefined;
  return Array.isArray(details?.dependents) ? details.dependents.filter((d): d is string => typeof d === "string") : [];
}

function MoveDialog({ itemId, version, move, onClose }: { itemId: string; version: AdminVersion; move: Move; onClose: () => void }) {
  const [reason, setReason] = useState("");
  const [confirmed, setConfirmed] = useState<string[] | null>(null);
  const toast = useToast();
  const transition = useTransition({
    onSuccess: (v) => {
      toast(`${itemId} ${v.version} is ${stateLabel(v.state)}`);
      onClose();
    },
  });
  const dependents = dependentsOf(transition.error);
  const submit = () =>
    transition.mutate({ itemId, version: version.version, body: { to: move.to, reason: reason.trim() || null, sunset_at: null, confirm: confirmed } });
  return (
    <Dialog open onClose={onClose} title={`${move.label}: ${itemId} ${version.version}`}>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <label className="block text-sm">
          Reason{move.reason ? " (required)" : ""}
          <textarea className="input mt-1 w-full" rows={3} value={reason} onChange={(e) => setReason(e.target.value)} required={move.reason} data-autofocus />
        </label>
        {dependents.length > 0 && (
          <div className="rounded border border-amber-300 p-2 text-sm" role="alert">
            <p className="font-medium">These versions depend on it:</p>
            <ul className="list-disc pl-5 font-mono text-xs">
              {dependents.map((d) => (
                <li key={d}>{d}</li>
              ))}
            </ul>
            <label className="mt-2 flex items-center gap-2">
              <input type="checkbox" checked={confirmed !== null} onChange={(e) => setConfirmed(e.target.checked ? dependents : null)} />
              Go on anyway: I have told their maintainers
            </label>
          </div>
        )}
        {transition.error && dependents.length === 0 && <p className="text-sm text-red-700 dark:text-red-400">{errorText(transition.error)}</p>}
        <div className="flex justify-end gap-2">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={`btn ${move.danger ? "btn-danger" : "btn-primary"}`} disabled={transition.isPending || (dependents.length > 0 && confirmed === null)}>
            {move.label}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function DryRunDialog({ itemId, version, onClose }: { itemId: string; version: string; onClose: () => void }) {
  const [text, setText] = useState("{}");
  const [problem, setProblem] = useState<string | null>(null);
  const dryRun = useDryRun();
  const run = () => {
    let inputs: unknown;
    try {
      inputs = JSON.parse(text);
    } catch {
      setProblem("The inputs are not valid JSON");
      return;
    }
    if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) {
      setProblem("The inputs are a JSON object");
      return;
    }
    setProblem(null);
    dryRun.mutate({ itemId, version, inputs: inputs as Record<string, unknown> });
  };
  return (
    <Dialog open onClose={onClose} title={`Dry run of ${itemId} ${version}`} wide>
      <p className="mb-2 text-sm muted">Runs once in the sandbox with these inputs. It is not a run of the item.</p>
      <textarea className="input h-40 w-full font-mono text-xs" aria-label="Inputs (JSON)" value={text} onChange={(e) => setText(e.target.value)} />
      {(problem || dryRun.error) && <p className="text-sm text-red-700 dark:text-red-400">{problem ?? errorText(dryRun.error)}</p>}
      {dryRun.data && (
        <p className="text-sm">
          Started as{" "}
          <Link className="link" to={`/jobs/${dryRun.data.id}`}>
            job #{dryRun.data.id}
          </Link>
        </p>
      )}
      <div className="mt-3 flex justify-end gap-2">
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
        <button type="button" className="btn btn-primary" disabled={dryRun.isPending} onClick={run}>
          Run
        </button>
      </div>
    </Dialog>
  );
}

export function VersionActions({ itemId, version, reviewRequired, mayManage }: { itemId: string; version: AdminVersion; reviewRequired: boolean; mayManage: boolean }) {
  const [move, setMove] = useState<Move | null>(null);
  const [dry, setDry] = useState(false);
  const [channel, setChannel] = useState("");
  const toast = useToast();
  const promote = useSetChannel({
    onSuccess: (_, v) => toast(`${v.channel} now points at ${itemId} ${v.version}`),
    onError: (error) => toast(errorText(error), "error"),
  });
  const tests = useRunTests({ onSuccess: (r) => toast(r.cases.length ? `${r.cases.length} test case(s) started` : "This version ships no tests") });
  if (!mayManage) return null;
  const runnable = version.state === "active" || version.state === "deprecated";
  return (
    <div className="flex flex-wrap items-center gap-1">
      {movesFrom(version.state, version.restores_to ?? null, reviewRequired).map((m) => (
        <button key={m.label} type="button" className="btn" onClick={() => setMove(m)}>
          {m.label}
        </button>
      ))}
      {version.state === "in_review" && (
        <Link className="btn btn-primary" to={reviewPath(itemId, version.version)}>
          Review
        </Link>
      )}
      {runnable && (
        <form
          className="flex items-center gap-1"
          onSubmit={(e) => {
            e.preventDefault();
            if (channel.trim()) promote.mutate({ itemId, channel: channel.trim(), version: version.version });
          }}
        >
          <input className="input w-24" aria-label={`Channel for ${version.version}`} placeholder="stable" value={channel} onChange={(e) => setChannel(e.target.value)} />
          <button type="submit" className="btn" disabled={promote.isPending}>
            Promote
          </button>
        </form>
      )}
      {version.state !== "archived" && (
        <>
          <button type="button" className="btn" disabled={tests.isPending} onClick={() => tests.mutate({ itemId, version: version.version })}>
            Run tests
          </button>
          <button type="button" className="btn" onClick={() => setDry(true)}>
            Dry run
          </button>
        </>
      )}
      {move && <MoveDialog itemId={itemId} version={version} move={move} onClose={() => setMove(null)} />}
      {dry && <DryRunDialog itemId={itemId} version={version.version} onClose={() => setDry(false)} />}
    </div>
  );
}
