/** A reviewer's decision on a version in review: approve it (it becomes active), or reject it with a reason its
 * importer reads. */
import { useState } from "react";
import { useReview, type AdminVersion } from "../../api/catalogAdmin";
import { errorText } from "../../lib/formErrors";
import { Dialog } from "../Dialog";
import { useToast } from "../toasts";
import { stateLabel } from "./lifecycle";

function RejectDialog({ itemId, version, onClose, onRejected }: { itemId: string; version: string; onClose: () => void; onRejected: () => void }) {
  const [reason, setReason] = useState("");
  const toast = useToast();
  const review = useReview({
    onSuccess: (v) => {
      toast(`${itemId} ${v.version} is ${stateLabel(v.state)}`);
      onClose();
      onRejected();
    },
  });
  return (
    <Dialog open onClose={onClose} title={`Reject ${itemId} ${version}`}>
      <form
        className="space-y-3"
        onSubmit={(e) => {
          e.preventDefault();
          review.mutate({ itemId, version, body: { decision: "reject", reason: reason.trim() } });
        }}
      >
        <label className="block text-sm">
          Why (its importer reads this)
          <textarea className="input mt-1 w-full" rows={3} value={reason} onChange={(e) => setReason(e.target.value)} required data-autofocus />
        </label>
        {review.error && <p className="text-sm text-red-700 dark:text-red-400">{errorText(review.error)}</p>}
        <div className="flex justify-end gap-2">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-danger" disabled={review.isPending || !reason.trim()}>
            Reject
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function ReviewDecision({ itemId, version, onDecided }: { itemId: string; version: AdminVersion; onDecided: () => void }) {
  const [rejecting, setRejecting] = useState(false);
  const toast = useToast();
  const review = useReview({
    onSuccess: (v) => {
      toast(`${itemId} ${v.version} is ${stateLabel(v.state)}`);
      onDecided();
    },
    onError: (error) => toast(errorText(error), "error"),
  });
  return (
    <div className="flex flex-wrap gap-2">
      <button
        type="button"
        className="btn btn-primary"
        disabled={review.isPending}
        onClick={() => review.mutate({ itemId, version: version.version, body: { decision: "approve", reason: null } })}
      >
        Approve
      </button>
      <button type="button" className="btn btn-danger" disabled={review.isPending} onClick={() => setRejecting(true)}>
        Reject
      </button>
      {rejecting && (
        <RejectDialog
          itemId={itemId}
          version={version.version}
          onClose={() => setRejecting(false)}
          onRejected={onDecided}
        />
      )}
    </div>
  );
}
