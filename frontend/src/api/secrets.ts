/**
 * Secrets for catalog items (admin; `/api/admin/secrets`): a value goes in and never comes back; what is listed
 * are names, descriptions, the item versions granted each secret and the versions that wait for a grant.
 */
import { useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import { api, unwrap, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

export type Secret = Schemas["SecretOut"];
export type UncoveredVersion = Schemas["UncoveredVersion"];

/** The names the server accepts: a secret becomes an environment variable of the job. */
export const SECRET_NAME_PATTERN = /^[A-Z_][A-Z0-9_]*$/;

export const secretKeys = {
  all: [...adminKeys.all, "secrets"] as const,
};

/** Every secret, with its grants and the versions waiting for one. */
export function useSecrets() {
  return useQuery({ queryKey: secretKeys.all, queryFn: () => unwrap(api.GET("/api/admin/secrets")) });
}

/** A new secret (`original` null), or what changes in an existing one. */
export interface SecretDraft {
  original: Secret | null;
  name: string;
  /** Empty when editing: the value is kept. */
  value: string;
  description: string;
  items: string[];
}

function sameSet(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((x) => set.has(x));
}

/** Create a secret, or change only what differs in an existing one; null when nothing differed (no call). */
async function saveSecret({ original, name, value, description, items }: SecretDraft): Promise<Secret | null> {
  if (!original) return unwrap(api.POST("/api/admin/secrets", { body: { name, value, description, items } }));
  const patch: Schemas["SecretUpdate"] = {};
  if (value) patch.value = value;
  if (description !== original.description) patch.description = description;
  if (!sameSet(items, original.items)) patch.items = items;
  if (Object.keys(patch).length === 0) return null;
  return unwrap(api.PATCH("/api/admin/secrets/{name}", { params: { path: { name: original.name } }, body: patch }));
}

/** Create a secret or save the changes to one. */
export function useSaveSecret(callbacks?: MutationCallbacks<Secret | null, SecretDraft>) {
  return useApiMutation({ mutationFn: saveSecret, invalidates: () => [secretKeys.all] }, callbacks);
}

/** Delete a secret: its value is gone for good. */
export function useDeleteSecret(callbacks?: MutationCallbacks<void, Secret>) {
  return useApiMutation(
    {
      mutationFn: async (secret: Secret) => {
        await unwrap(api.DELETE("/api/admin/secrets/{name}", { params: { path: { name: secret.name } } }));
      },
      invalidates: () => [secretKeys.all],
    },
    callbacks,
  );
}

export interface SecretExtension {
  secret: Secret;
  version: UncoveredVersion;
}

/** Grant a secret to one more item version (one that declares it but is not covered). */
export function useExtendSecret(callbacks?: MutationCallbacks<Secret, SecretExtension>) {
  return useApiMutation(
    {
      mutationFn: ({ secret, version }: SecretExtension) =>
        unwrap(
          api.POST("/api/admin/secrets/{name}/extend", {
            params: { path: { name: secret.name } },
            body: { items: [`${version.item_id}@=${version.version}`] },
          }),
        ),
      invalidates: () => [secretKeys.all],
    },
    callbacks,
  );
}
