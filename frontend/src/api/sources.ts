/**
 * The catalog's sources (admin; `/api/admin/sources`): one document of every source, read with its ETag and saved
 * whole with If-Match, validated without saving (as JSON or as YAML text, which gives problems their lines), and
 * its revisions with their diffs and rollback, and refreshing a source now.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import { api, unwrap, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

export type SourcesView = Schemas["SourcesView"];
export type SourceView = Schemas["SourceView"];
export type SourcesDocument = Schemas["SourcesDocument"];
export type ValidationAnswer = Schemas["ValidationAnswer"];
export type SourceProblem = Schemas["Problem"];
export type SaveResult = Schemas["SaveResult"];
export type Revision = Schemas["RevisionOut"];
export type RevisionDiff = Schemas["RevisionDiff"];
type Job = Schemas["JobOut"];

/** Revisions per page of the history. */
export const REVISIONS_PAGE_SIZE = 10;

export const sourcesKeys = {
  all: [...adminKeys.all, "sources"] as const,
  current: () => [...sourcesKeys.all, "current"] as const,
  validate: (text: string) => [...sourcesKeys.all, "validate", text] as const,
  revisions: (page: number, current: number | null) => [...sourcesKeys.all, "revisions", page, current] as const,
  diff: (revision: number) => [...sourcesKeys.all, "diff", revision] as const,
};

/** The current document, each source with its status, and the revision and ETag it is. */
export function useSources() {
  return useQuery({ queryKey: sourcesKeys.current(), queryFn: () => unwrap(api.GET("/api/admin/sources")) });
}

/** The validation answer for a document written as YAML (its problems carry their lines); nothing is saved. The
 * previous answer stays shown while the next one is asked for. */
export function useSourcesValidation(yamlText: string, enabled = true) {
  return useQuery({
    queryKey: sourcesKeys.validate(yamlText),
    queryFn: ({ signal }) =>
      unwrap(
        api.POST("/api/admin/sources/validate", {
          body: yamlText as unknown as SourcesDocument,
          bodySerializer: (body: unknown) => String(body),
          headers: { "Content-Type": "application/yaml" },
          signal,
        }),
      ),
    enabled,
    placeholderData: keepPreviousData,
    staleTime: Infinity,
  });
}

/** A page of the saved revisions, newest first; asked for again when the current revision (`current`, as the page
 * read it) changes. */
export function useSourceRevisions(page: number, current: number | null) {
  return useQuery({
    queryKey: sourcesKeys.revisions(page, current),
    queryFn: () => unwrap(api.GET("/api/admin/sources/revisions", { params: { query: { page, page_size: REVISIONS_PAGE_SIZE } } })),
    placeholderData: keepPreviousData,
  });
}

/** What a revision changed from the one before: the changed fields, and a unified diff of the two as YAML. */
export function useRevisionDiff(revision: number | null) {
  return useQuery({
    queryKey: sourcesKeys.diff(revision ?? 0),
    queryFn: () =>
      unwrap(api.GET("/api/admin/sources/revisions/{revision}/diff", { params: { path: { revision: revision ?? 0 } } })),
    enabled: revision !== null,
    staleTime: Infinity, // a saved revision never changes
  });
}

export interface SaveSourcesVariables {
  document: unknown;
  etag: string;
  message: string;
}

/** Save the whole document over the revision read (`etag`): 409 when it changed since, 422 with the answer. */
export function useSaveSources(callbacks?: MutationCallbacks<SaveResult, SaveSourcesVariables>) {
  return useApiMutation(
    {
      mutationFn: ({ document, etag, message }: SaveSourcesVariables) =>
        unwrap(
          api.PUT("/api/admin/sources", {
            params: { query: { message: message || undefined }, header: { "If-Match": etag } },
            body: document as SourcesDocument,
          }),
        ),
      invalidates: () => [sourcesKeys.current(), [...sourcesKeys.all, "revisions"]],
    },
    callbacks,
  );
}

export interface RollbackVariables {
  revision: number;
  etag: string;
}

/** Save an older revision's content as a new revision, over the revision read (`etag`). */
export function useRollbackSources(callbacks?: MutationCallbacks<SaveResult, RollbackVariables>) {
  return useApiMutation(
    {
      mutationFn: ({ revision, etag }: RollbackVariables) =>
        unwrap(
          api.POST("/api/admin/sources/revisions/{revision}/rollback", {
            params: { path: { revision }, header: { "If-Match": etag } },
          }),
        ),
      invalidates: () => [sourcesKeys.current(), [...sourcesKeys.all, "revisions"]],
    },
    callbacks,
  );
}

/** Refresh one source now: a `source_refresh` job (the one already queued or running, when there is one). */
export function useRefreshSource(callbacks?: MutationCallbacks<Job, string>) {
  return useApiMutation(
    {
      mutationFn: (sourceId: string) =>
        unwrap(api.POST("/api/admin/sources/{source_id}/refresh", { params: { path: { source_id: sourceId } } })),
      invalidates: () => [sourcesKeys.current()],
    },
    callbacks,
  );
}
