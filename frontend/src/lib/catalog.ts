/** Catalog facts in words, for the catalog and item pages. */
/** What network access an item declares, in words: null is none, {} any outbound TCP port, or the ports listed. */
export function describeNetwork(need: { tcp_ports?: number[] } | null | undefined): string | null {
  if (need === null || need === undefined) return null;
  const ports = need.tcp_ports;
  return ports && ports.length > 0 ? `outbound TCP port${ports.length > 1 ? "s" : ""} ${ports.join(", ")}` : "any outbound TCP port";
}
