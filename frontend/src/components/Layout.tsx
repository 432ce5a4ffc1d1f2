/** The frame of every page: header with navigation, live-connection dot, theme toggle and the user's menu. */
import { NavLink, Outlet, useLocation, useNavigate } from "react-router";
import { Suspense, useEffect, useRef, useState } from "react";
import { useLogout, useMe } from "../api/auth";
import { hasRole } from "../lib/auth";
import { followCardLabels } from "../lib/cardLabels";
import { useAwaitingApproval, useConnectionStatus } from "../lib/liveJobs";
import { ConnectionDot, Spinner } from "./ui";
import { ErrorBoundary } from "./ErrorBoundary";

function ThemeToggle() {
  const [dark, setDark] = useState(() => document.documentElement.classList.contains("dark"));
  const toggle = () => {
    const next = !dark;
    document.documentElement.classList.toggle("dark", next);
    localStorage.setItem("portal-theme", next ? "dark" : "light");
    setDark(next);
  };
  return (
    <button className="btn px-2" onClick={toggle} aria-label={dark ? "Switch to light theme" : "Switch to dark theme"}>
      {dark ? "☀" : "☾"}
    </button>
  );
}

const navClass = ({ isActive }: { isActive: boolean }) =>
  `rounded-md px-3 py-1.5 text-sm font-medium ${
    isActive
      ? "bg-accent-100 text-accent-800 dark:bg-accent-800/40 dark:text-accent-100"
      : "text-stone-700 hover:bg-stone-100 dark:text-stone-300 dark:hover:bg-stone-800"
  }`;

export function Layout() {
  const me = useMe();
  const logout = useLogout();
  const navigate = useNavigate();
  const location = useLocation();
  const status = useConnectionStatus();
  const awaiting = useAwaitingApproval();
  const waiting = awaiting.data?.length ?? 0;
  const main = useRef<HTMLElement>(null);
  useEffect(() => (main.current ? followCardLabels(main.current) : undefined), []);
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 btn">
        Skip to content
      </a>
      <header className="border-b border-stone-200 bg-white dark:border-stone-800 dark:bg-stone-900">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-2">
          <NavLink to="/" className="flex items-center gap-2 font-semibold">
            <span className="grid h-7 w-7 place-items-center rounded-md bg-accent-600 text-white" aria-hidden>
              ▶
            </span>
            Portal
          </NavLink>
          <nav aria-label="Main" className="flex gap-1">
            <NavLink to="/catalog" className={navClass}>
              Catalog
            </NavLink>
            <NavLink to="/jobs" className={navClass}>
              Jobs
            </NavLink>
            {(waiting > 0 || hasRole(me.data?.role, "operator")) && (
              <NavLink to="/approvals" className={navClass}>
                Approvals
                {waiting > 0 && (
                  <span className="ml-1.5 rounded-full bg-accent-700 px-1.5 text-xs text-white" aria-label={`${waiting} waiting`}>
                    {waiting}
                  </span>
                )}
              </NavLink>
            )}
            {hasRole(me.data?.role, "operator") && (
              <NavLink to="/admin" className={navClass}>
                Admin
              </NavLink>
            )}
          </nav>
          <div className="ml-auto flex items-center gap-3">
            <ConnectionDot status={status} />
            <ThemeToggle />
            {me.data && (
              <>
                {/* The profile stays in reach on a phone: the name only, shortened, without the role. */}
                <NavLink
                  to="/profile"
                  className="max-w-[7rem] truncate text-sm hover:underline sm:max-w-none"
                  data-testid="whoami"
                  title={`${me.data.username} (${me.data.role}): your profile`}
                >
                  {me.data.username} <span className="muted hidden sm:inline">({me.data.role})</span>
                </NavLink>
                <button
                  className="btn"
                  onClick={() => logout.mutate(undefined, { onSettled: () => navigate("/login") })}
                  disabled={logout.isPending}
                >
                  Log out
                </button>
              </>
            )}
          </div>
        </div>
      </header>
      <main id="main" ref={main} className="mx-auto max-w-7xl px-4 py-6">
        <ErrorBoundary resetKey={location.pathname}>
          <Suspense fallback={<Spinner />}>
            <Outlet />
          </Suspense>
        </ErrorBoundary>
      </main>
    </div>
  );
}
