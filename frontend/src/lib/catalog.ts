/** The whole catalog (every item with an active version), shared by the pages that offer items as filters. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";

export function useAllCatalogItems() {
  return useQuery({
    queryKey: ["catalog", { q: "", category: "", tag: "" }],
    queryFn: () => unwrap(api.GET("/api/catalog", { params: { query: { page_size: 1000 } } })),
  });
}
