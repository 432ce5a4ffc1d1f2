/** Every user's API tokens (admin): filtered by user and status in the URL, paged, with revoke. */
import { useMemo } from "react";
import type { Token } from "../../api/auth";
import { ApiError } from "../../api/client";
import { useAllUsers, useRevokeUserToken, useUserTokens } from "../../api/users";
import { errorText } from "../../lib/formErrors";
import { useUrlState } from "../../lib/urlState";
import { useConfirm } from "../Dialog";
import { useToast } from "../toasts";
import { TokensTable } from "../tokens";
import { Empty, Section, Spinner } from "../ui";

const TOKEN_DEFAULTS = { tokens_user: "", tokens_active: "", tokens_page: "1" };

export function TokensSection() {
  const [params, update] = useUrlState(TOKEN_DEFAULTS);
  const page = Math.max(1, Number(params.tokens_page) || 1);
  const toast = useToast();
  const confirm = useConfirm();
  const allUsers = useAllUsers();
  const disabledUsers = useMemo(() => new Set((allUsers.data ?? []).filter((u) => u.disabled).map((u) => u.username)), [allUsers.data]);

  const tokens = useUserTokens({
    username: params.tokens_user,
    active: params.tokens_active === "" ? undefined : params.tokens_active === "true",
    page,
  });

  const revoke = useRevokeUserToken({
    onSuccess: (_, token) => toast(`Token ${token.name} of ${token.username} revoked`),
    onError: (error) => toast(error instanceof ApiError && error.status === 409 ? error.message : `Not revoked: ${errorText(error)}`, "error"),
  });

  const ask = async (token: Token) => {
    const yes = await confirm({
      title: `Revoke token ${token.name}?`,
      message: `Programs using this token of ${token.username} get 401 at once. A revoked token cannot be brought back.`,
      confirmLabel: "Revoke",
      danger: true,
    });
    if (yes) revoke.mutate(token);
  };

  const pages = tokens.data ? Math.max(1, Math.ceil(tokens.data.total / tokens.data.page_size)) : 1;
  const filtered = Boolean(params.tokens_user || params.tokens_active);

  return (
    <Section id="tokens-title" title="API tokens" actions={tokens.isFetching && !tokens.isPending ? <Spinner label="Updating" /> : undefined}>
      <div className="mb-3 grid gap-2 sm:grid-cols-2 lg:max-w-xl">
        <div>
          <label htmlFor="tokens-user" className="sr-only">
            User
          </label>
          <select
            id="tokens-user"
            className="input"
            value={params.tokens_user}
            onChange={(e) => update({ tokens_user: e.target.value, tokens_page: "1" })}
          >
            <option value="">All users</option>
            {params.tokens_user && !(allUsers.data ?? []).some((u) => u.username === params.tokens_user) && (
              <option value={params.tokens_user}>{params.tokens_user}</option>
            )}
            {(allUsers.data ?? []).map((u) => (
              <option key={u.id} value={u.username}>
                {u.username}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="tokens-active" className="sr-only">
            Token status
          </label>
          <select
            id="tokens-active"
            className="input"
            value={params.tokens_active}
            onChange={(e) => update({ tokens_active: e.target.value, tokens_page: "1" })}
          >
            <option value="">Every token</option>
            <option value="true">Working now</option>
            <option value="false">Revoked, expired or refused</option>
          </select>
        </div>
      </div>
      {tokens.isPending ? (
        <Spinner label="Loading tokens" />
      ) : tokens.isError ? (
        <Empty title="The tokens could not be loaded">{tokens.error.message}</Empty>
      ) : tokens.data.items.length === 0 && tokens.data.total > 0 ? (
        <Empty title={`There is no page ${page}`}>
          <button type="button" className="link" onClick={() => update({ tokens_page: "1" })}>
            Go to the first page
          </button>
        </Empty>
      ) : tokens.data.items.length === 0 ? (
        <Empty title={filtered ? "No token matches these filters" : "No API tokens yet"}>
          {filtered ? (
            <button type="button" className="link" onClick={() => update({ tokens_user: "", tokens_active: "", tokens_page: "1" })}>
              Clear the filters
            </button>
          ) : (
            "Users create their own tokens on their profile page."
          )}
        </Empty>
      ) : (
        <>
          <TokensTable
            tokens={tokens.data.items}
            caption={`API tokens of every user, ${tokens.data.total} in all`}
            showUser
            disabledUsers={disabledUsers}
            revoking={revoke.isPending ? revoke.variables?.id : null}
            onRevoke={(token) => void ask(token)}
          />
          <nav aria-label="Token pages" className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
            <span className="muted" aria-live="polite">
              {tokens.data.total.toLocaleString()} {tokens.data.total === 1 ? "token" : "tokens"} · page {page} of {pages}
            </span>
            <div className="flex gap-2">
              <button type="button" className="btn" disabled={page <= 1} onClick={() => update({ tokens_page: String(page - 1) })}>
                Previous
              </button>
              <button type="button" className="btn" disabled={page >= pages} onClick={() => update({ tokens_page: String(page + 1) })}>
                Next
              </button>
            </div>
          </nav>
        </>
      )}
    </Section>
  );
}
