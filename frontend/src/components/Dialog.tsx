/**
 * Modal dialogs on the native <dialog> element: focus is trapped and Escape closes them, as browsers do it.
 * Focus goes to the element marked `data-autofocus` (or the first control) on open, and back to what had it
 * before on close; if that is gone (a button that disappeared), to the page's main heading.
 */
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";

function restoreFocus(previous: Element | null) {
  if (previous instanceof HTMLElement && previous.isConnected) {
    previous.focus();
    return;
  }
  const heading = document.querySelector<HTMLElement>("main h1");
  if (heading) {
    heading.tabIndex = -1; // focusable by script only
    heading.focus();
  }
}

export function Dialog({
  open,
  onClose,
  title,
  children,
  wide = false,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  children: ReactNode;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog || !open) return;
    const previous = document.activeElement;
    if (!dialog.open) dialog.showModal();
    dialog.querySelector<HTMLElement>("[data-autofocus]")?.focus();
    return () => {
      if (dialog.open) dialog.close();
      restoreFocus(previous);
    };
  }, [open]);
  return (
    <dialog
      ref={ref}
      onClose={onClose}
      aria-labelledby="dialog-title"
      className={`card m-auto w-[calc(100%-2rem)] p-0 text-stone-900 backdrop:bg-black/50 dark:text-stone-100 ${wide ? "max-w-2xl" : "max-w-md"}`}
    >
      {open && (
        <div className="p-5">
          <div className="mb-4 flex items-start justify-between gap-4">
            <h2 id="dialog-title" className="text-lg font-semibold">
              {title}
            </h2>
            <button className="muted text-xl leading-none" aria-label="Close" onClick={onClose}>
              ×
            </button>
          </div>
          {children}
        </div>
      )}
    </dialog>
  );
}

export interface ConfirmOptions {
  title: string;
  message: ReactNode;
  confirmLabel: string;
  danger?: boolean;
}

const ConfirmContext = createContext<(options: ConfirmOptions) => Promise<boolean>>(() => Promise.resolve(false));

/**
 * One confirmation dialog for the whole app, asked for with `await confirm({...})`. It lives at the top of the
 * tree, so a table row that scrolls away or re-renders while it is open cannot take it with it.
 */
export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [asked, setAsked] = useState<(ConfirmOptions & { answer: (yes: boolean) => void }) | null>(null);
  const confirm = useCallback(
    (options: ConfirmOptions) => new Promise<boolean>((resolve) => setAsked({ ...options, answer: resolve })),
    [],
  );
  const settle = (yes: boolean) => {
    asked?.answer(yes);
    setAsked(null);
  };
  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      <Dialog open={asked !== null} onClose={() => settle(false)} title={asked?.title ?? ""}>
        <div className="text-sm">{asked?.message}</div>
        <div className="mt-5 flex justify-end gap-2">
          <button className="btn" onClick={() => settle(false)} data-autofocus>
            Keep it
          </button>
          <button className={`btn ${asked?.danger ? "btn-danger" : "btn-primary"}`} onClick={() => settle(true)}>
            {asked?.confirmLabel}
          </button>
        </div>
      </Dialog>
    </ConfirmContext.Provider>
  );
}

export function useConfirm() {
  return useContext(ConfirmContext);
}
