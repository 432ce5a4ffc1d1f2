/** API tokens as a table with their status: active, revoked, expired, or refused because their user is disabled. */
import type { Token } from "../api/auth";
import { Badge, TableHead, Time, type Tone } from "./ui";

export type TokenStatus = "active" | "revoked" | "expired" | "refused";

/** Whether a token authenticates now; `ownerDisabled` when its user is disabled (tokens are refused, not revoked). */
export function tokenStatus(token: Pick<Token, "revoked_at" | "expires_at">, now: number = Date.now(), ownerDisabled = false): TokenStatus {
  if (token.revoked_at) return "revoked";
  if (token.expires_at && new Date(token.expires_at).getTime() <= now) return "expired";
  if (ownerDisabled) return "refused";
  return "active";
}

const TOKEN_BADGES: Record<TokenStatus, [Tone, string, string | undefined]> = {
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
      <table className="cards w-full min-w-[44rem] text-left text-sm">
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
