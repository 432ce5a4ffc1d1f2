/**
 * The logged-in user (`/api/auth`): who they are, logging in and out, their password and their own API tokens.
 * Logging in or out empties the whole cache: nothing fetched as one user may show to the next.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError, unwrap, type Me, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

export type Token = Schemas["TokenOut"];

export const authKeys = {
  all: ["auth"] as const,
  /** Who is logged in: null when nobody is (a 401 anywhere sets it so). */
  me: () => [...authKeys.all, "me"] as const,
  tokens: () => [...authKeys.all, "tokens"] as const,
};

/** Who is logged in, or null when nobody is. */
export function useMe() {
  return useQuery<Me | null>({
    queryKey: authKeys.me(),
    queryFn: async () => {
      try {
        return await unwrap(api.GET("/api/auth/me"));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: 60_000,
  });
}

/** Log in; the cache starts afresh with the new user. */
export function useLogin() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { username: string; password: string }) => unwrap(api.POST("/api/auth/login", { body })),
    onSuccess: (me) => {
      client.clear();
      client.setQueryData(authKeys.me(), me);
    },
  });
}

/** Log out; the cache is emptied whether or not the server answered (the session is gone either way for us). */
export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/auth/logout")),
    onSettled: () => {
      client.clear();
      client.setQueryData(authKeys.me(), null);
    },
  });
}

/** Change the user's own password (the server ends their other sessions). */
export function useChangePassword(callbacks?: MutationCallbacks<void, Schemas["PasswordChange"]>) {
  return useApiMutation(
    {
      mutationFn: async (body: Schemas["PasswordChange"]) => {
        await unwrap(api.POST("/api/auth/password", { body }));
      },
    },
    callbacks,
  );
}

/** The user's own API tokens. */
export function useMyTokens() {
  return useQuery({ queryKey: authKeys.tokens(), queryFn: () => unwrap(api.GET("/api/auth/tokens")) });
}

/** Create an API token for the user; its secret is in the answer, and only there. */
export function useCreateMyToken(callbacks?: MutationCallbacks<Schemas["TokenCreated"], Schemas["TokenCreate"]>) {
  return useApiMutation(
    {
      mutationFn: (body: Schemas["TokenCreate"]) => unwrap(api.POST("/api/auth/tokens", { body })),
      invalidates: () => [authKeys.tokens()],
    },
    callbacks,
  );
}

/** Revoke one of the user's own API tokens. */
export function useRevokeMyToken(callbacks?: MutationCallbacks<void, Token>) {
  return useApiMutation(
    {
      mutationFn: async (token: Token) => {
        await unwrap(api.DELETE("/api/auth/tokens/{token_id}", { params: { path: { token_id: token.id } } }));
      },
      invalidates: () => [authKeys.tokens()],
    },
    callbacks,
  );
}
