/**
 * Users, every user's API tokens and the throttled logins (admin; the auth router's `/api/admin/users`,
 * `/api/admin/tokens` and `/api/admin/login-locks`).
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import type { Token } from "./auth";
import { api, unwrap, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

export type User = Schemas["UserOut"];
export type LoginLock = Schemas["LoginLockOut"];

/** The users list's filters, as kept in the URL (empty strings: no filter; `disabled` is "true" or "false"). */
export type UserFilters = { q: string; role: string; disabled: string };
export const NO_USER_FILTERS: UserFilters = { q: "", role: "", disabled: "" };

/** A page of every user's tokens: of one user (`username`), and working now or not (`active`), or all. */
export interface TokenListParams {
  username: string;
  active: boolean | undefined;
  page: number;
}

const TOKEN_PAGE_SIZE = 50;
/** The throttled logins change as people fail to log in: looked at again this often. */
const LOGIN_LOCKS_REFRESH_MS = 30_000;

export const userKeys = {
  all: [...adminKeys.all, "users"] as const,
  list: (filters: UserFilters) => [...userKeys.all, filters] as const,
};

export const userTokenKeys = {
  all: [...adminKeys.all, "tokens"] as const,
  list: (params: TokenListParams) => [...userTokenKeys.all, params] as const,
};

export const loginLockKeys = {
  all: [...adminKeys.all, "login-locks"] as const,
};

/** The users matching the filters; the previous answer stays shown while a new one loads. */
export function useUsers(filters: UserFilters) {
  return useQuery({
    queryKey: userKeys.list(filters),
    queryFn: () =>
      unwrap(
        api.GET("/api/admin/users", {
          params: {
            query: {
              q: filters.q || undefined,
              role: filters.role || undefined,
              disabled: filters.disabled === "" ? undefined : filters.disabled === "true",
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

/** Every user, unfiltered (for the token filter's choices and which tokens are refused); it is the users page's
 * unfiltered list, so both share one cache entry. */
export function useAllUsers() {
  return useQuery({
    queryKey: userKeys.list(NO_USER_FILTERS),
    queryFn: () => unwrap(api.GET("/api/admin/users")),
  });
}

/** Create a user; without a password the server generates one, returned once. */
export function useCreateUser(callbacks?: MutationCallbacks<Schemas["UserCreated"], Schemas["UserCreate"]>) {
  return useApiMutation(
    {
      mutationFn: (body: Schemas["UserCreate"]) => unwrap(api.POST("/api/admin/users", { body })),
      invalidates: () => [userKeys.all],
    },
    callbacks,
  );
}

export interface UserChange {
  user: User;
  patch: Schemas["UserUpdate"];
}

/** Change a user's role or disable or enable them. */
export function useUpdateUser(callbacks?: MutationCallbacks<User, UserChange>) {
  return useApiMutation(
    {
      mutationFn: ({ user, patch }: UserChange) =>
        unwrap(api.PATCH("/api/admin/users/{user_id}", { params: { path: { user_id: user.id } }, body: patch })),
      // A role or a disabled account shows across the admin area: tokens refused, audit entries, the users.
      invalidates: () => [adminKeys.all],
    },
    callbacks,
  );
}

/** Reset a user's password to a generated one (in the answer, once); their sessions end. */
export function useResetPassword(callbacks?: MutationCallbacks<Schemas["PasswordResetDone"], User>) {
  return useApiMutation(
    {
      mutationFn: (user: User) =>
        unwrap(api.POST("/api/admin/users/{user_id}/reset-password", { params: { path: { user_id: user.id } } })),
    },
    callbacks,
  );
}

/** A page of every user's API tokens; the previous page stays shown while the next one loads. */
export function useUserTokens(params: TokenListParams) {
  return useQuery({
    queryKey: userTokenKeys.list(params),
    queryFn: () =>
      unwrap(
        api.GET("/api/admin/tokens", {
          params: {
            query: { username: params.username || undefined, active: params.active, page: params.page, page_size: TOKEN_PAGE_SIZE },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

/** Revoke any user's API token. */
export function useRevokeUserToken(callbacks?: MutationCallbacks<void, Token>) {
  return useApiMutation(
    {
      mutationFn: async (token: Token) => {
        await unwrap(api.DELETE("/api/admin/tokens/{token_id}", { params: { path: { token_id: token.id } } }));
      },
      invalidates: () => [userTokenKeys.all],
    },
    callbacks,
  );
}

/** The usernames whose logins are locked or backing off now. */
export function useLoginLocks() {
  return useQuery({
    queryKey: loginLockKeys.all,
    queryFn: () => unwrap(api.GET("/api/admin/login-locks")),
    refetchInterval: LOGIN_LOCKS_REFRESH_MS,
  });
}

/** Forget a username's failed logins, so it may log in at once. */
export function useUnlockLogin(callbacks?: MutationCallbacks<void, LoginLock>) {
  return useApiMutation(
    {
      mutationFn: async (lock: LoginLock) => {
        await unwrap(api.DELETE("/api/admin/login-locks/{username}", { params: { path: { username: lock.username } } }));
      },
      invalidates: () => [loginLockKeys.all],
    },
    callbacks,
  );
}
