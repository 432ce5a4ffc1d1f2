/** Storage (`/api/admin/storage`, admins): every bundle with what refers to it, its files, and the cleanup. */
import { useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import { catalogAdminKeys } from "./catalogAdmin";
import { api, unwrap, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

export type StoredBundle = Schemas["BundleOut"];
export type BundleFileContent = Schemas["BundleFileContent"];
export type CleanupReport = Schemas["CleanupReport"];
export type StorageSummary = Schemas["StorageSummary"];

/** What the bundle table asks for. */
export interface BundleFilters {
  q?: string;
  sort?: "created_at" | "size" | "sha256";
  order?: "asc" | "desc";
  page?: number;
}

export const storageKeys = {
  all: [...adminKeys.all, "storage"] as const,
  summary: () => [...storageKeys.all, "summary"] as const,
  bundles: (filters: BundleFilters) => [...storageKeys.all, "bundles", filters] as const,
  files: (sha256: string) => [...storageKeys.all, "files", sha256] as const,
  file: (sha256: string, path: string) => [...storageKeys.all, "file", sha256, path] as const,
};

/** What the catalog stores and costs (totals, savings, orphans, this node's cache, top items, growth). */
export function useStorageSummary() {
  return useQuery({
    queryKey: storageKeys.summary(),
    queryFn: () => unwrap(api.GET("/api/admin/storage/summary")),
  });
}

export function useBundles(filters: BundleFilters) {
  return useQuery({
    queryKey: storageKeys.bundles(filters),
    queryFn: () => unwrap(api.GET("/api/admin/storage/bundles", { params: { query: { ...filters, q: filters.q || undefined } } })),
    placeholderData: (previous) => previous,
  });
}

export function useBundleFiles(sha256: string | null) {
  return useQuery({
    queryKey: storageKeys.files(sha256 ?? ""),
    queryFn: () => unwrap(api.GET("/api/admin/storage/bundles/{sha256}/files", { params: { path: { sha256: sha256 ?? "" } } })),
    enabled: sha256 !== null,
    staleTime: Infinity, // a bundle never changes
  });
}

export function useBundleFile(sha256: string, path: string | null) {
  return useQuery({
    queryKey: storageKeys.file(sha256, path ?? ""),
    queryFn: () => unwrap(api.GET("/api/admin/storage/bundles/{sha256}/files/{path}", { params: { path: { sha256, path: path ?? "" } } })),
    enabled: path !== null,
    staleTime: Infinity,
  });
}

/** Where the browser downloads a bundle from (a plain link: the session cookie goes with it). */
export function bundleDownloadUrl(sha256: string): string {
  return `/api/admin/storage/bundles/${sha256}/download`;
}

/** The cleanup: `dry_run` previews it; `bundles` holds it to the list a preview showed. It removes bundles and may
 * purge archived versions, so the bundle list and the catalog administration are stale after it. */
export function useCleanup(callbacks?: MutationCallbacks<CleanupReport, Schemas["CleanupRequest"]>) {
  return useApiMutation(
    {
      mutationFn: (body: Schemas["CleanupRequest"]) => unwrap(api.POST("/api/admin/storage/cleanup", { body })),
      invalidates: (report) => (report.dry_run ? [] : [storageKeys.all, catalogAdminKeys.all, adminKeys.system()]),
    },
    callbacks,
  );
}
