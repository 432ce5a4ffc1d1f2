/** The whole catalog (every item with an active version), shared by the pages that offer items as filters. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";

export function useAllCatalogItems() {
  return useQuery({
    queryKey: ["catalog", { q: "", category: "", tag: "" }],
    queryFn: () => unwrap(api.GET("/api/catalog", { params: { query: { page_size: 1000 } } })),
  });
}

/** What network access an item declares, in words: null is none, {} any outbound TCP port, or the ports listed. */
export function describeNetwork(need: { tcp_ports?: number[] } | null | undefined): string | null {
  if (need === null || need === undefined) return null;
  const ports = need.tcp_ports;
  return ports && ports.length > 0 ? `outbound TCP port${ports.length > 1 ? "s" : ""} ${ports.join(", ")}` : "any outbound TCP port";
}
