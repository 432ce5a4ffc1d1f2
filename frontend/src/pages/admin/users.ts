/** What the users page's sections share: the users filter's defaults and the list of every user. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";

export const USER_DEFAULTS = { q: "", role: "", disabled: "" };

/** Every user, unfiltered (for the token filter's choices and which tokens are refused). */
export function useAllUsers() {
  return useQuery({
    queryKey: ["admin", "users", USER_DEFAULTS],
    queryFn: () => unwrap(api.GET("/api/admin/users")),
  });
}
