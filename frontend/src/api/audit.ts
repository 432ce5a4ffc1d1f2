/**
 * The audit trail (admin; `/api/admin/audit`): entries newest first, paged by id, the values seen in each filter,
 * and the export of a selection as CSV or JSON lines.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import { api, unwrap, type Schemas } from "./client";

export type AuditEntry = Schemas["AuditEntryOut"];

/** What selects entries (every field optional; `since` and `until` are instants). */
export interface AuditSelection {
  actor?: string;
  action?: string;
  action_prefix?: string;
  target_type?: string;
  target_id?: string;
  since?: string;
  until?: string;
}

const AUDIT_PAGE = 50;
const RECENT_ENTRIES = 10;
/** The dashboard's recent activity is looked at again this often. */
const RECENT_REFRESH_MS = 15_000;

export const auditKeys = {
  all: [...adminKeys.all, "audit"] as const,
  page: (selection: AuditSelection, beforeId: number | undefined) => [...auditKeys.all, "page", selection, beforeId] as const,
  facets: () => [...auditKeys.all, "facets"] as const,
  recent: () => [...auditKeys.all, "recent"] as const,
};

/** A page of the selected entries older than `beforeId` (the newest when undefined); the previous page stays
 * shown while the next one loads. */
export function useAuditPage(selection: AuditSelection, beforeId: number | undefined) {
  return useQuery({
    queryKey: auditKeys.page(selection, beforeId),
    queryFn: () =>
      unwrap(api.GET("/api/admin/audit", { params: { query: { ...selection, before_id: beforeId, limit: AUDIT_PAGE } } })),
    placeholderData: keepPreviousData,
  });
}

/** The actors, actions and target types the log holds, for the filters' choices. */
export function useAuditFacets() {
  return useQuery({ queryKey: auditKeys.facets(), queryFn: () => unwrap(api.GET("/api/admin/audit/facets")) });
}

/** The newest entries, for the dashboard. */
export function useRecentAudit() {
  return useQuery({
    queryKey: auditKeys.recent(),
    queryFn: () => unwrap(api.GET("/api/admin/audit", { params: { query: { limit: RECENT_ENTRIES } } })),
    refetchInterval: RECENT_REFRESH_MS,
  });
}

/** Where the browser downloads the selected entries (a link, not a fetch: the server streams the file). */
export function auditExportUrl(selection: AuditSelection, format: "csv" | "jsonl"): string {
  const search = new URLSearchParams({ format });
  for (const [key, value] of Object.entries(selection)) if (value) search.set(key, value);
  return `/api/admin/audit/export?${search}`;
}
