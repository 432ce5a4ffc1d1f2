/**
 * The one way the API modules build a mutation: it knows which queries a change makes stale and marks them once it
 * succeeded, then runs what the page added (toasts, navigation, form state). Pages never invalidate by hand.
 */
import { useMutation, useQueryClient, type QueryKey, type UseMutationOptions, type UseMutationResult } from "@tanstack/react-query";

/** What a page may add to a mutation hook: its own reactions, run after the hook's invalidations. */
export type MutationCallbacks<TData, TVariables> = Pick<
  UseMutationOptions<TData, Error, TVariables>,
  "onSuccess" | "onError" | "onSettled"
>;

interface ApiMutation<TData, TVariables> {
  mutationFn: (variables: TVariables) => Promise<TData>;
  /** The queries a success makes stale (prefixes, from the key factories). */
  invalidates?: (data: TData, variables: TVariables) => readonly QueryKey[];
}

export function useApiMutation<TData, TVariables = void>(
  { mutationFn, invalidates }: ApiMutation<TData, TVariables>,
  callbacks: MutationCallbacks<TData, TVariables> = {},
): UseMutationResult<TData, Error, TVariables> {
  const client = useQueryClient();
  return useMutation({
    ...callbacks,
    mutationFn,
    onSuccess: (data, variables, ...rest) => {
      for (const queryKey of invalidates?.(data, variables) ?? []) void client.invalidateQueries({ queryKey });
      return callbacks.onSuccess?.(data, variables, ...rest);
    },
  });
}
