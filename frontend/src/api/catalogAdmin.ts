/**
 * Catalog administration (`/api/admin/catalog`; publishers manage the items they maintain, admins every item):
 * the table of items, an item's versions with their lifecycle, reviews, channels, diffs, tests, dry runs and
 * bulk actions. Every change here also changes what the catalog offers, so it marks the catalog stale too.
 */
import { useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import { catalogKeys, type BundleUpload } from "./catalog";
import { api, unwrap, type Job, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";
import { uploadWithProgress } from "./upload";

export type AdminItem = Schemas["AdminItemOut"];
export type AdminItemDetail = Schemas["AdminItemDetail"];
export type AdminVersion = Schemas["AdminVersionOut"];
export type VersionDiff = Schemas["VersionDiff"];
export type VersionNeeds = Schemas["Needs"];
export type DependencyEdge = Schemas["DependencyEdge"];
export type TestResults = Schemas["TestResults"];
export type BulkRequest = Schemas["CatalogBulkRequest"];
export type BulkResponse = Schemas["CatalogBulkResponse"];
export type LifecycleState = AdminVersion["state"];

/** What the admin table asks for. */
export interface ItemFilters {
  q?: string;
  state?: string;
  owner?: string;
  tag?: string;
  category?: string;
  sort?: "name" | "id" | "updated_at";
  order?: "asc" | "desc";
  page?: number;
}

export const catalogAdminKeys = {
  all: [...adminKeys.all, "catalog"] as const,
  list: (filters: ItemFilters) => [...catalogAdminKeys.all, "list", filters] as const,
  detail: (itemId: string) => [...catalogAdminKeys.all, "detail", itemId] as const,
  diff: (itemId: string, from: string, to: string) => [...catalogAdminKeys.all, "diff", itemId, from, to] as const,
  tests: (itemId: string, version: string) => [...catalogAdminKeys.all, "tests", itemId, version] as const,
  reviews: () => [...catalogAdminKeys.all, "reviews"] as const,
  dependencies: () => [...catalogAdminKeys.all, "dependencies"] as const,
};

/** A change to the catalog: the admin pages and what requesters see both go stale. */
const CHANGED = () => [catalogAdminKeys.all, catalogKeys.all];

/** A page of the admin table (50 items), with each item's states, channels and recent runs. */
export function useAdminItems(filters: ItemFilters) {
  return useQuery({
    queryKey: catalogAdminKeys.list(filters),
    queryFn: () =>
      unwrap(
        api.GET("/api/admin/catalog/items", {
          params: {
            query: {
              q: filters.q || undefined,
              state: filters.state || undefined,
              owner: filters.owner || undefined,
              tag: filters.tag || undefined,
              category: filters.category || undefined,
              sort: filters.sort ?? "name",
              order: filters.order ?? "asc",
              page: filters.page ?? 1,
            },
          },
        }),
      ),
    placeholderData: (previous) => previous,
  });
}

/** An item with every version, its history, channels, dependents and metadata. */
export function useAdminItem(itemId: string) {
  return useQuery({
    queryKey: catalogAdminKeys.detail(itemId),
    queryFn: () => unwrap(api.GET("/api/admin/catalog/items/{item_id}", { params: { path: { item_id: itemId } } })),
  });
}

/** The versions waiting for the caller's review, and the caller's own that wait. */
export function usePendingReviews(enabled = true) {
  return useQuery({
    queryKey: catalogAdminKeys.reviews(),
    queryFn: () => unwrap(api.GET("/api/admin/catalog/reviews")),
    enabled,
  });
}

/** The catalog's dependency map: an edge per dependency of a runnable version, with the version it resolves to. */
export function useDependencyGraph(enabled = true) {
  return useQuery({
    queryKey: catalogAdminKeys.dependencies(),
    queryFn: () => unwrap(api.GET("/api/admin/catalog/dependencies")),
    enabled,
  });
}

/** What changed from one version to another (schema with what it would break, manifest, files); `from` null: the
 * version compared with nothing (an item's first, reviewed whole). */
export function useVersionDiff(itemId: string, from: string | null, to: string | null) {
  return useQuery({
    queryKey: catalogAdminKeys.diff(itemId, from ?? "", to ?? ""),
    queryFn: () =>
      unwrap(
        api.GET("/api/admin/catalog/items/{item_id}/diff", {
          params: { path: { item_id: itemId }, query: from ? { from, to: to ?? "" } : { to: to ?? "" } },
        }),
      ),
    enabled: Boolean(to && from !== to),
  });
}

/** The latest run of a version's tests; looked at again while a case still runs. */
export function useTestResults(itemId: string, version: string | null) {
  return useQuery({
    queryKey: catalogAdminKeys.tests(itemId, version ?? ""),
    queryFn: () =>
      unwrap(
        api.GET("/api/admin/catalog/items/{item_id}/versions/{version}/tests", {
          params: { path: { item_id: itemId, version: version ?? "" } },
        }),
      ),
    enabled: version !== null,
    refetchInterval: (query) => (query.state.data?.run != null && query.state.data.passed === null ? 2000 : false),
  });
}

export interface TransitionVariables {
  itemId: string;
  version: string;
  body: Schemas["TransitionRequest"];
}

/** Move a version along its lifecycle. */
export function useTransition(callbacks?: MutationCallbacks<AdminVersion, TransitionVariables>) {
  return useApiMutation(
    {
      mutationFn: ({ itemId, version, body }: TransitionVariables) =>
        unwrap(
          api.POST("/api/admin/catalog/items/{item_id}/versions/{version}/transition", {
            params: { path: { item_id: itemId, version } },
            body,
          }),
        ),
      invalidates: CHANGED,
    },
    callbacks,
  );
}

export interface ReviewVariables {
  itemId: string;
  version: string;
  body: Schemas["ReviewRequest"];
}

/** Approve or reject a version in review. */
export function useReview(callbacks?: MutationCallbacks<AdminVersion, ReviewVariables>) {
  return useApiMutation(
    {
      mutationFn: ({ itemId, version, body }: ReviewVariables) =>
        unwrap(
          api.POST("/api/admin/catalog/items/{item_id}/versions/{version}/review", {
            params: { path: { item_id: itemId, version } },
            body,
          }),
        ),
      invalidates: CHANGED,
    },
    callbacks,
  );
}

export interface ChannelVariables {
  itemId: string;
  channel: string;
  version: string | null; // null: remove the channel
  reason?: string;
}

/** Point a channel at a version, or remove it. */
export function useSetChannel(callbacks?: MutationCallbacks<AdminItemDetail, ChannelVariables>) {
  return useApiMutation(
    {
      mutationFn: ({ itemId, channel, version, reason }: ChannelVariables) =>
        version === null
          ? unwrap(
              api.DELETE("/api/admin/catalog/items/{item_id}/channels/{channel}", {
                params: { path: { item_id: itemId, channel }, query: { reason: reason || undefined } },
              }),
            )
          : unwrap(
              api.PUT("/api/admin/catalog/items/{item_id}/channels/{channel}", {
                params: { path: { item_id: itemId, channel } },
                body: { version, reason: reason || null },
              }),
            ),
      invalidates: CHANGED,
    },
    callbacks,
  );
}

export interface ItemUpdateVariables {
  itemId: string;
  body: Schemas["ItemUpdate"];
}

/** Change an item's metadata (overrides of its manifest, featured, notice, policies). */
export function useUpdateItem(callbacks?: MutationCallbacks<AdminItemDetail, ItemUpdateVariables>) {
  return useApiMutation(
    {
      mutationFn: ({ itemId, body }: ItemUpdateVariables) =>
        unwrap(api.PATCH("/api/admin/catalog/items/{item_id}", { params: { path: { item_id: itemId } }, body })),
      invalidates: CHANGED,
    },
    callbacks,
  );
}

/** Run a version's tests now. */
export function useRunTests(callbacks?: MutationCallbacks<TestResults, { itemId: string; version: string }>) {
  return useApiMutation(
    {
      mutationFn: ({ itemId, version }: { itemId: string; version: string }) =>
        unwrap(
          api.POST("/api/admin/catalog/items/{item_id}/versions/{version}/tests", {
            params: { path: { item_id: itemId, version } },
          }),
        ),
      invalidates: (_, { itemId, version }) => [catalogAdminKeys.tests(itemId, version)],
    },
    callbacks,
  );
}

export interface DryRunVariables {
  itemId: string;
  version: string;
  inputs: Record<string, unknown>;
}

/** Run a version once with sample inputs (not a run of the item). */
export function useDryRun(callbacks?: MutationCallbacks<Job, DryRunVariables>) {
  return useApiMutation(
    {
      mutationFn: ({ itemId, version, inputs }: DryRunVariables) =>
        unwrap(
          api.POST("/api/admin/catalog/items/{item_id}/versions/{version}/dry-run", {
            params: { path: { item_id: itemId, version } },
            body: { inputs },
          }),
        ),
    },
    callbacks,
  );
}

/** A bulk action (or its preview, with `dry_run`). */
export function useCatalogBulk(callbacks?: MutationCallbacks<BulkResponse, BulkRequest>) {
  return useApiMutation(
    {
      mutationFn: (body: BulkRequest) => unwrap(api.POST("/api/admin/catalog/bulk", { body })),
      invalidates: (_, body) => (body.dry_run ? [] : CHANGED()),
    },
    callbacks,
  );
}

export type CatalogImportReport = Schemas["CatalogImportReport"];
export type TransferredVersion = Schemas["TransferredVersion"];

/** Where the browser downloads the catalog export from (a plain link: the session cookie goes with it). */
export const CATALOG_EXPORT_URL = "/api/admin/catalog/export";

/** Import a catalog export (`dry_run`: say what would happen). New versions, channels and items change the catalog. */
export function useCatalogImport(callbacks?: MutationCallbacks<CatalogImportReport, BundleUpload & { dryRun: boolean }>) {
  return useApiMutation(
    {
      mutationFn: ({ file, onProgress, dryRun }: BundleUpload & { dryRun: boolean }) => {
        const form = new FormData();
        form.append("file", file);
        form.append("dry_run", String(dryRun));
        return uploadWithProgress<CatalogImportReport>("/api/admin/catalog/import", form, onProgress);
      },
      invalidates: (report) => (report.dry_run ? [] : [catalogAdminKeys.all, catalogKeys.all]),
    },
    callbacks,
  );
}
