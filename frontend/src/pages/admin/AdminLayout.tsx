/** The admin area's own navigation; each page checks nothing itself: the server refuses what a role may not do. */
import { Suspense } from "react";
import { NavLink, Outlet } from "react-router";
import { useMe } from "../../api/auth";
import { Spinner } from "../../components/ui";
import { hasRole, type Role } from "../../lib/auth";

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
  ["/admin/system", "System", "admin"],
];

export default function AdminLayout() {
  const me = useMe();
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
