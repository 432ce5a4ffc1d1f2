/**
 * Pieces shared by the admin and profile pages: byte, uptime and rate formatting, server problems mapped onto
 * form fields, a copy button, the "shown once" secret dialog, API token tables and a usage bar.
 */
import { useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError, type ErrorDetail, type Schemas } from "../api/client";
import { Dialog } from "./Dialog";
import { useToast } from "./toasts";
import { Time } from "./ui";

export type Token = Schemas["TokenOut"];

// ---------------------------------------------------------------- formatting

const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** "0 B", "512 B", "1.5 KB", "12 MB", "3.42 GB" (powers of 1024); "—" when unknown. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes) || bytes < 0) return "—";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  // Three significant digits at most: "1.5 KB", "12.3 MB", "512 GB".
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${BYTE_UNITS[unit]}`;
}

/** "45 s", "12 min", "3 h 12 min", "2 d 4 h": how long something has been up, to its two largest units. */
export function formatUptime(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** "0 %", "2.5 %", "100 %" for a ratio between 0 and 1; "—" when unknown. */
export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  if (ratio == null || !Number.isFinite(ratio)) return "—";
  return `${Number((ratio * 100).toFixed(digits))} %`;
}

/** A number with up to `digits` decimals in the user's locale; "—" when unknown. */
export function formatNumber(value: number | null | undefined, digits = 2): string {
  if (value == null || !Number.isFinite(value)) return "—";
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** A number out of a loosely typed status object (`{[key]: unknown}`), or null. */
export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A string out of a loosely typed status object, or null. */
export function str(value: unknown): string | null {
  return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : null;
}

/** A nested object out of a loosely typed status object, or an empty one. */
export function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

// ---------------------------------------------------------------- secrets and tokens

/** The names a secret may have: it becomes an environment variable of the job. */
export const SECRET_NAME_PATTERN = /^[A-Z_][A-Z0-9_]*$/;

export type TokenStatus = "active" | "revoked" | "expired" | "refused";

/** Whether a token authenticates now; `ownerDisabled` when its user is disabled (tokens are refused, not revoked). */
export function tokenStatus(token: Pick<Token, "revoked_at" | "expires_at">, now: number = Date.now(), ownerDisabled = false): TokenStatus {
  if (token.revoked_at) return "revoked";
  if (token.expires_at && new Date(token.expires_at).getTime() <= now) return "expired";
  if (ownerDisabled) return "refused";
  return "active";
}

// ---------------------------------------------------------------- server problems

/** The problems of an error: the list of `{field, message}`, or a single `{field}` object (409s) with its message. */
export function problemsOf(error: unknown): ErrorDetail[] {
  if (!(error instanceof ApiError)) return [];
  if (error.problems.length) return error.problems;
  const details = error.details as { field?: unknown } | null;
  if (details && typeof details === "object" && typeof details.field === "string") {
    return [{ field: details.field, message: error.message }];
  }
  return [];
}

/** True when a problem's field is `name` or inside it (`items[2]`, `name.first`). */
export function fieldMatches(field: string | undefined, name: string): boolean {
  if (!field) return false;
  return field === name || field.startsWith(`${name}[`) || field.startsWith(`${name}.`);
}

/** The messages of the problems about `name`. */
export function fieldMessages(error: unknown, name: string): string[] {
  return problemsOf(error)
    .filter((p) => fieldMatches(p.field, name))
    .map((p) => p.message);
}

/** Any thrown thing as one line for a toast. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

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
      <p className="font-medium">{title ? `${title}: ${message}` : message}</p>
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

// ---------------------------------------------------------------- copy and shown-once secrets

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

// ---------------------------------------------------------------- badges, bars, tokens

const BADGE = "inline-flex items-center rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset";
const TONES = {
  green: "bg-green-100 text-green-800 ring-green-300 dark:bg-green-950 dark:text-green-200 dark:ring-green-800",
  red: "bg-red-100 text-red-800 ring-red-300 dark:bg-red-950 dark:text-red-200 dark:ring-red-800",
  stone: "bg-stone-100 text-stone-800 ring-stone-300 dark:bg-stone-800 dark:text-stone-200 dark:ring-stone-600",
  amber: "bg-amber-100 text-amber-900 ring-amber-300 dark:bg-amber-950 dark:text-amber-200 dark:ring-amber-800",
} as const;

export function Badge({ tone, children, title }: { tone: keyof typeof TONES; children: ReactNode; title?: string }) {
  return (
    <span className={`${BADGE} ${TONES[tone]}`} title={title}>
      {children}
    </span>
  );
}

const TOKEN_BADGES: Record<TokenStatus, [keyof typeof TONES, string, string | undefined]> = {
  active: ["green", "Active", undefined],
  revoked: ["stone", "Revoked", undefined],
  expired: ["amber", "Expired", undefined],
  refused: ["red", "Refused", "Its user is disabled: the token works again if the user is enabled"],
};

export function TokenStatusBadge({ status }: { status: TokenStatus }) {
  const [tone, label, title] = TOKEN_BADGES[status];
  return (
    <Badge tone={tone} title={title}>
      {label}
    </Badge>
  );
}

/** How full something is (a disk): a bar that turns amber from 80 % and red from 90 %. */
export function UsageBar({ used, total, label }: { used: number; total: number; label: string }) {
  const pct = total > 0 ? Math.max(0, Math.min(100, (used / total) * 100)) : 0;
  const colour = pct >= 90 ? "bg-red-600" : pct >= 80 ? "bg-amber-500" : "bg-accent-600";
  return (
    <div
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(pct)}
      aria-valuetext={`${Math.round(pct)} % used`}
      className="h-2 w-full overflow-hidden rounded-full bg-stone-200 dark:bg-stone-800"
    >
      <div className={`h-full rounded-full ${colour}`} style={{ width: `${pct}%` }} />
    </div>
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

/** API tokens as a table (with their users' names when `showUser`), each with a revoke button while it is not revoked. */
export function TokensTable({
  tokens,
  caption,
  showUser = false,
  disabledUsers,
  revoking,
  onRevoke,
}: {
  tokens: Token[];
  caption: string;
  showUser?: boolean;
  /** Usernames of disabled users: their tokens show as refused. */
  disabledUsers?: Set<string>;
  /** The id of the token being revoked (its button is disabled). */
  revoking?: number | null;
  onRevoke: (token: Token) => void;
}) {
  const now = Date.now();
  return (
    <div className="card relative overflow-x-auto">
      <table className="w-full min-w-[44rem] text-left text-sm">
        <caption className="sr-only">{caption}</caption>
        <TableHead columns={["Name", ...(showUser ? ["User"] : []), "Prefix", "Created", "Last used", "Expires", "Status", null]} />
        <tbody>
          {tokens.map((token) => {
            const status = tokenStatus(token, now, disabledUsers?.has(token.username) ?? false);
            return (
              <tr key={token.id} className="border-t border-stone-200 dark:border-stone-800" data-token-id={token.id}>
                <td className="max-w-56 truncate px-3 py-2 font-medium" title={token.name}>
                  {token.name}
                </td>
                {showUser && <td className="px-3 py-2">{token.username}</td>}
                <td className="px-3 py-2 font-mono text-xs">{token.prefix}…</td>
                <td className="px-3 py-2 whitespace-nowrap">
                  <Time iso={token.created_at} />
                </td>
                <td className="px-3 py-2 whitespace-nowrap">
                  {token.last_used_at ? <Time iso={token.last_used_at} /> : <span className="muted">never</span>}
                </td>
                <td className="px-3 py-2 whitespace-nowrap">
                  {token.expires_at ? <Time iso={token.expires_at} /> : <span className="muted">never</span>}
                </td>
                <td className="px-3 py-2">
                  <TokenStatusBadge status={status} />
                </td>
                <td className="px-3 py-2 text-right">
                  {!token.revoked_at && (
                    <button
                      type="button"
                      className="btn"
                      disabled={revoking === token.id}
                      onClick={() => onRevoke(token)}
                      aria-label={`Revoke token ${token.name}${showUser ? ` of ${token.username}` : ""}`}
                    >
                      {revoking === token.id ? "Revoking…" : "Revoke"}
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
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
