/** The admin area's own navigation, and a page that says which role a section needs to a user without it (the
 * server refuses what a role may not do all the same). */
import { Suspense } from "react";
import { Link, NavLink, Outlet, useLocation } from "react-router";
import { useMe } from "../../api/auth";
import { Empty, Spinner } from "../../components/ui";
import { hasRole, type Role } from "../../lib/auth";
import { withArticle } from "../../lib/words";

const SECTIONS: [string, string, Role][] = [
  ["/admin", "Dashboard", "operator"],
  ["/admin/jobs", "Jobs", "operator"],
  ["/admin/catalog", "Catalog", "publisher"],
  ["/admin/analytics", "Analytics", "operator"],
  ["/admin/schedules", "Schedules", "operator"],
  ["/admin/storage", "Storage", "admin"],
  ["/admin/audit", "Audit", "admin"],
  ["/admin/users", "Users", "admin"],
  ["/admin/secrets", "Secrets", "admin"],
  ["/admin/sources", "Sources", "admin"],
  ["/admin/system", "System", "admin"],
];

/** The role the section holding `path` needs (the longest section path that holds it). */
export function roleFor(path: string): Role {
  const holding = SECTIONS.filter(([to]) => path === to || path.startsWith(`${to}/`));
  return holding.sort((a, b) => b[0].length - a[0].length)[0]?.[2] ?? "operator";
}

export default function AdminLayout() {
  const me = useMe();
  const needed = roleFor(useLocation().pathname);
  if (me.data && !hasRole(me.data.role, needed)) {
    return (
      <Empty title={`This page needs the ${needed} role`}>
        <p>
          You are signed in as {withArticle(me.data.role)}. An admin can change your role on the Users page.
        </p>
        <p className="mt-2">
          <Link to="/catalog" className="link">
            Back to the catalog
          </Link>
        </p>
      </Empty>
    );
  }
  return (
    <div>
      <nav aria-label="Administration" className="mb-5 flex flex-wrap gap-1 border-b border-stone-200 pb-2 dark:border-stone-800">
        {SECTIONS.filter(([, , role]) => hasRole(me.data?.role, role)).map(([to, label]) => (
          <NavLink
            key={to}
            to={to}
            end={to === "/admin"}
            className={({ isActive }) =>
              `rounded-md px-3 py-1 text-sm ${isActive ? "bg-stone-200 font-medium dark:bg-stone-800" : "hover:bg-stone-100 dark:hover:bg-stone-900"}`
            }
          >
            {label}
          </NavLink>
        ))}
      </nav>
      <Suspense fallback={<Spinner />}>
        <Outlet />
      </Suspense>
    </div>
  );
}
