/**
 * The catalog (`/api/catalog`, and `/api/admin/catalog` for network access): items, their versions and
 * descriptors, and importing versions from a folder on the server, a Git repository or an uploaded bundle.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap, type ImportReport, type Schemas, type ValidationReport } from "./client";
import { jobKeys } from "./jobs";
import { useApiMutation, type MutationCallbacks } from "./mutations";
import { uploadWithProgress } from "./upload";

/** The catalog page's filters (empty strings: no filter), as kept in the URL. */
export type CatalogFilters = { q: string; category: string; tag: string };

export const NO_CATALOG_FILTERS: CatalogFilters = { q: "", category: "", tag: "" };
/** Enough for every item: the catalog is listed whole, not paged. */
const WHOLE_CATALOG = 1000;

export const catalogKeys = {
  all: ["catalog"] as const,
  lists: () => [...catalogKeys.all, "list"] as const,
  list: (filters: CatalogFilters) => [...catalogKeys.lists(), filters] as const,
  item: (itemId: string) => [...catalogKeys.all, "item", itemId] as const,
  allVersions: () => [...catalogKeys.all, "versions"] as const,
  versions: (itemId: string) => [...catalogKeys.allVersions(), itemId] as const,
  descriptors: (itemId: string) => [...catalogKeys.all, "descriptor", itemId] as const,
  descriptor: (itemId: string, version: string | undefined) => [...catalogKeys.descriptors(itemId), version] as const,
  localRoots: () => [...catalogKeys.all, "local-roots"] as const,
};

/** The items matching the filters; the previous answer stays shown while a new one loads. */
export function useCatalogItems(filters: CatalogFilters) {
  return useQuery({
    queryKey: catalogKeys.list(filters),
    queryFn: () =>
      unwrap(
        api.GET("/api/catalog", {
          params: {
            query: {
              q: filters.q || undefined,
              category: filters.category || undefined,
              tag: filters.tag || undefined,
              page_size: WHOLE_CATALOG,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

/** The whole catalog (every item with an active version), shared by the pages that offer items as filters; it is
 * the catalog page's unfiltered list, so both share one cache entry. */
export function useAllCatalogItems() {
  return useQuery({
    queryKey: catalogKeys.list(NO_CATALOG_FILTERS),
    queryFn: () => unwrap(api.GET("/api/catalog", { params: { query: { page_size: WHOLE_CATALOG } } })),
  });
}

/** One item as the catalog shows it: name, owner, channels, featured and its maintainers' notice. */
export function useCatalogItem(itemId: string) {
  return useQuery({
    queryKey: catalogKeys.item(itemId),
    queryFn: () => unwrap(api.GET("/api/catalog/{item_id}", { params: { path: { item_id: itemId } } })),
  });
}

/** An item's versions, newest first (with their status: only active ones run). */
export function useItemVersions(itemId: string, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: catalogKeys.versions(itemId),
    queryFn: () => unwrap(api.GET("/api/catalog/{item_id}/versions", { params: { path: { item_id: itemId } } })),
    enabled,
  });
}

/** What a version is: manifest, form schema, README and network needs; waits until the version is known. */
export function useDescriptor(itemId: string, version: string | undefined) {
  return useQuery({
    queryKey: catalogKeys.descriptor(itemId, version),
    queryFn: () =>
      unwrap(
        api.GET("/api/catalog/{item_id}/{version}/descriptor", {
          params: { path: { item_id: itemId, version: version ?? "latest" } },
        }),
      ),
    enabled: Boolean(version),
  });
}

/** Allow or withdraw the network access an item declares (admin). */
export function useSetNetworkAccess(itemId: string, callbacks?: MutationCallbacks<Schemas["NetworkAccess"], boolean>) {
  return useApiMutation(
    {
      mutationFn: (allowed: boolean) =>
        unwrap(api.PUT("/api/admin/catalog/{item_id}/network", { params: { path: { item_id: itemId } }, body: { allowed } })),
      invalidates: () => [catalogKeys.descriptors(itemId), catalogKeys.lists()],
    },
    callbacks,
  );
}

/** What an import adds: new items and versions. */
const imported = () => [catalogKeys.lists(), catalogKeys.allVersions()];

/** The folders a folder import may read (publishers). */
export function useLocalRoots() {
  return useQuery({
    queryKey: catalogKeys.localRoots(),
    queryFn: () => unwrap(api.GET("/api/catalog/local/roots")),
    staleTime: Infinity, // a setting: it changes only with a restart
  });
}

/** Check a folder on the server without registering anything. */
export function useValidateLocalFolder(callbacks?: MutationCallbacks<ValidationReport, string>) {
  return useApiMutation(
    { mutationFn: (path: string) => unwrap(api.POST("/api/catalog/local/validate", { body: { path } })) },
    callbacks,
  );
}

/** Register the versions of a folder on the server. */
export function useImportLocalFolder(callbacks?: MutationCallbacks<ImportReport, Schemas["LocalImportRequest"]>) {
  return useApiMutation(
    {
      mutationFn: (body: Schemas["LocalImportRequest"]) => unwrap(api.POST("/api/catalog/local/import", { body })),
      invalidates: imported,
    },
    callbacks,
  );
}

/** Start a Git import, which runs as a job (its progress shows on the job). */
export function useStartGitImport(callbacks?: MutationCallbacks<Schemas["JobOut"], Schemas["GitImportRequest"]>) {
  return useApiMutation(
    {
      mutationFn: (body: Schemas["GitImportRequest"]) => unwrap(api.POST("/api/catalog/git/import", { body })),
      invalidates: () => [jobKeys.lists()],
    },
    callbacks,
  );
}

export interface BundleUpload {
  file: File;
  /** Called as the upload goes, with the fraction sent. */
  onProgress: (fraction: number) => void;
}

function bundleForm(file: File, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  form.append("file", file);
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return form;
}

/** Check an uploaded bundle without registering anything. */
export function useValidateBundle(callbacks?: MutationCallbacks<ValidationReport, BundleUpload>) {
  return useApiMutation(
    {
      mutationFn: ({ file, onProgress }: BundleUpload) =>
        uploadWithProgress<ValidationReport>("/api/catalog/validate", bundleForm(file), onProgress),
    },
    callbacks,
  );
}

/** Register the versions of an uploaded bundle (`replace`: also those registered with different content; `draft`:
 * as drafts, not runnable until moved along their lifecycle). */
export function useUploadBundle(callbacks?: MutationCallbacks<ImportReport, BundleUpload & { replace: boolean; draft: boolean }>) {
  return useApiMutation(
    {
      mutationFn: ({ file, onProgress, replace, draft }: BundleUpload & { replace: boolean; draft: boolean }) =>
        uploadWithProgress<ImportReport>(
          "/api/catalog/bundle/upload",
          bundleForm(file, { replace: String(replace), draft: String(draft) }),
          onProgress,
        ),
      invalidates: imported,
    },
    callbacks,
  );
}
