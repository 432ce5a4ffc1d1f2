/** Analytics (`/api/admin/analytics`, operators): usage per item and version, failures, adoption, failed imports. */
import { useQuery } from "@tanstack/react-query";
import { adminKeys } from "./admin";
import { api, unwrap, type Schemas } from "./client";

export type ItemUsage = Schemas["ItemUsage"];
export type VersionUsage = Schemas["VersionUsage"];
export type ErrorGroup = Schemas["ErrorGroup"];
export type Adoption = Schemas["Adoption"];
export type UsageRanking = Schemas["UsageRanking"];
export type ImportFailure = Schemas["ImportFailureOut"];

/** A period as the API takes it: ISO times; the server fills in what is missing (the last 30 days). */
export interface Period {
  since?: string;
  until?: string;
}

export const analyticsKeys = {
  all: [...adminKeys.all, "analytics"] as const,
  items: (period: Period, itemId?: string) => [...analyticsKeys.all, "items", period, itemId ?? null] as const,
  errors: (period: Period, itemId?: string) => [...analyticsKeys.all, "errors", period, itemId ?? null] as const,
  adoption: (itemId: string, period: Period) => [...analyticsKeys.all, "adoption", itemId, period] as const,
  usage: (period: Period, unusedDays: number) => [...analyticsKeys.all, "usage", period, unusedDays] as const,
  imports: (page: number) => [...analyticsKeys.all, "imports", page] as const,
};

/** The period of the last `days` days up to now (its start rounded to the minute, so that the key stays put). */
export function lastDays(days: number): Period {
  const since = new Date(Math.floor((Date.now() - days * 86_400_000) / 60_000) * 60_000);
  return { since: since.toISOString() };
}

export function useItemAnalytics(period: Period, itemId?: string) {
  return useQuery({
    queryKey: analyticsKeys.items(period, itemId),
    queryFn: () => unwrap(api.GET("/api/admin/analytics/items", { params: { query: { ...period, item_id: itemId } } })),
  });
}

export function useErrorAnalytics(period: Period, itemId?: string) {
  return useQuery({
    queryKey: analyticsKeys.errors(period, itemId),
    queryFn: () => unwrap(api.GET("/api/admin/analytics/errors", { params: { query: { ...period, item_id: itemId } } })),
  });
}

export function useAdoption(itemId: string | null, period: Period) {
  return useQuery({
    queryKey: analyticsKeys.adoption(itemId ?? "", period),
    queryFn: () => unwrap(api.GET("/api/admin/analytics/adoption", { params: { query: { ...period, item_id: itemId ?? "" } } })),
    enabled: Boolean(itemId),
  });
}

export function useUsageRanking(period: Period, unusedDays: number) {
  return useQuery({
    queryKey: analyticsKeys.usage(period, unusedDays),
    queryFn: () => unwrap(api.GET("/api/admin/analytics/usage", { params: { query: { ...period, unused_days: unusedDays } } })),
  });
}

export function useImportFailures(page: number) {
  return useQuery({
    queryKey: analyticsKeys.imports(page),
    queryFn: () => unwrap(api.GET("/api/admin/analytics/imports", { params: { query: { page, page_size: 20 } } })),
  });
}
