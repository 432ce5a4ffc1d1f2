/** A form's fields with their hints and the server's problems under them, and the answer of a refused form. */
import type { ReactNode } from "react";
import { alertText, errorText, fieldMatches, problemsOf } from "../lib/formErrors";

/**
 * The server's answer to a form: its message and the problems that are not already shown next to a field
 * (`shown` names those fields). Announced as an alert.
 */
export function FormError({ error, shown = [], title }: { error: unknown; shown?: string[]; title?: string }) {
  if (!error) return null;
  const rest = problemsOf(error).filter((p) => !shown.some((name) => fieldMatches(p.field, name)));
  const message = errorText(error);
  return (
    <div
      role="alert"
      className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200"
    >
      <p className="font-medium">{alertText(title, message)}</p>
      {rest.length > 0 && (
        <ul className="mt-1 list-disc pl-5">
          {rest.map((p, i) => (
            <li key={i}>
              {p.field && p.field !== "(body)" && <span className="font-mono">{p.field}</span>} {p.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The messages about one field, under it; give the input `aria-describedby={id}` when there are any. */
export function FieldError({ id, messages }: { id: string; messages: string[] }) {
  if (!messages.length) return null;
  return (
    <p id={id} className="mt-1 text-sm text-red-700 dark:text-red-400">
      {messages.join("; ")}
    </p>
  );
}

/** The ids for `aria-describedby`: the hint's, and the error's when there are errors. */
export function describedBy(...ids: (string | false | null | undefined)[]): string | undefined {
  const list = ids.filter(Boolean);
  return list.length ? list.join(" ") : undefined;
}

/** A labelled form field: label, the control (given as children, with `id`), a hint and the field's errors. */
export function Field({
  id,
  label,
  hint,
  errors = [],
  children,
}: {
  id: string;
  label: ReactNode;
  hint?: ReactNode;
  errors?: string[];
  children: ReactNode;
}) {
  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-sm font-medium">
        {label}
      </label>
      {children}
      {hint && (
        <p id={`${id}-hint`} className="mt-1 text-xs muted">
          {hint}
        </p>
      )}
      <FieldError id={`${id}-error`} messages={errors} />
    </div>
  );
}

/** The `aria-*` attributes of the control inside a `Field`. */
export function fieldAria(id: string, errors: string[], hint = false) {
  return {
    "aria-invalid": errors.length > 0 || undefined,
    "aria-describedby": describedBy(hint && `${id}-hint`, errors.length > 0 && `${id}-error`),
  };
}
