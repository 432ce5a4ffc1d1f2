/** Where the login page may send the user afterwards. */

/** Only paths on this origin may be a redirect target (`//host`, `/\\host` and absolute URLs are refused). */
export function safeNext(next: string | null, origin: string = window.location.origin): string {
  if (!next || !next.startsWith("/") || next.includes("\\")) return "/catalog";
  try {
    const url = new URL(next, origin);
    return url.origin === origin ? url.pathname + url.search + url.hash : "/catalog";
  } catch {
    return "/catalog";
  }
}
