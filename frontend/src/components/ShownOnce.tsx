/** A secret the server returns once (a generated password, a new token): shown with a copy button, then gone. */
import { useEffect, useRef, useState, type ReactNode } from "react";
import { errorText } from "../lib/formErrors";
import { Dialog } from "./Dialog";
import { useToast } from "./toasts";

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain HTTP: the Clipboard API is not there; the old way still works in a user gesture.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("the browser refused to copy");
}

export function CopyButton({ text, label = "Copy", className = "" }: { text: string; label?: string; className?: string }) {
  const toast = useToast();
  const [copied, setCopied] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const copy = async () => {
    try {
      await copyText(text);
      setCopied(true);
      clearTimeout(timer.current);
      timer.current = setTimeout(() => setCopied(false), 2000);
      toast("Copied to the clipboard", "info");
    } catch (error) {
      toast(`Could not copy (${errorText(error)}): select the text and copy it`, "error");
    }
  };
  return (
    <button type="button" className={`btn ${className}`} onClick={() => void copy()}>
      <span aria-live="polite">{copied ? "Copied" : label}</span>
    </button>
  );
}

export interface ShownOnce {
  title: string;
  /** The label of the field that holds the secret ("Password", "Token"). */
  label: string;
  secret: string;
  /** What to do with it; a "shown only once" warning is always added. */
  note?: ReactNode;
}

/** A secret the server returns once (a generated password, a new token): shown with a copy button, then gone. */
export function ShownOnceDialog({ shown, onClose }: { shown: ShownOnce | null; onClose: () => void }) {
  return (
    <Dialog open={shown !== null} onClose={onClose} title={shown?.title ?? ""}>
      {shown && (
        <div className="space-y-3">
          <p className="rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200">
            This is shown only once: copy it now. It cannot be displayed again.
          </p>
          <div>
            <label htmlFor="shown-once-secret" className="mb-1 block text-sm font-medium">
              {shown.label}
            </label>
            <div className="flex gap-2">
              <input
                id="shown-once-secret"
                className="input font-mono"
                readOnly
                value={shown.secret}
                onFocus={(e) => e.currentTarget.select()}
                data-autofocus
                autoComplete="off"
                spellCheck={false}
              />
              <CopyButton text={shown.secret} />
            </div>
          </div>
          {shown.note && <div className="text-sm muted">{shown.note}</div>}
          <div className="flex justify-end">
            <button type="button" className="btn btn-primary" onClick={onClose}>
              Done
            </button>
          </div>
        </div>
      )}
    </Dialog>
  );
}
