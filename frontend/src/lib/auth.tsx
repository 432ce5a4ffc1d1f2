/** Roles and the pages behind a login: role checks for showing controls (the server enforces them) and RequireAuth. */
import { Navigate, useLocation } from "react-router";
import type { ReactNode } from "react";
import { useMe } from "../api/auth";
import { ProblemPage } from "../components/ErrorBoundary";
import { Spinner } from "../components/ui";

export const ROLES = ["viewer", "requester", "operator", "publisher", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** True when `role` includes `needed` (each role includes the ones before it). */
export function hasRole(role: string | undefined, needed: Role): boolean {
  return role !== undefined && ROLES.indexOf(role as Role) >= ROLES.indexOf(needed);
}

/** Renders its children for a logged-in user; sends anyone else to the login page and back afterwards. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Spinner />;
  if (me.isError) {
    // The server could not say who this is (down, or an error): not a reason to log anyone out.
    return (
      <ProblemPage title="The portal cannot be reached">
        <p>{me.error.message}</p>
        <button className="btn mt-4" onClick={() => void me.refetch()}>
          Try again
        </button>
      </ProblemPage>
    );
  }
  if (!me.data) {
    const next = location.pathname + location.search;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}
