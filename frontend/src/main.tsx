/** The app: routes, the query client (a 401 anywhere sends the user to the login page), toasts and live updates. */
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, StrictMode, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserRouter, Link, Navigate, Outlet, RouterProvider, useParams } from "react-router";
import { authKeys } from "./api/auth";
import { ApiError } from "./api/client";
import { ConfirmProvider } from "./components/Dialog";
import { ErrorBoundary, ProblemPage } from "./components/ErrorBoundary";
import { Layout } from "./components/Layout";
import { ToastProvider } from "./components/toasts";
import { Spinner } from "./components/ui";
import "./index.css";
import { RequireAuth } from "./lib/auth";
import { LiveJobsProvider } from "./lib/liveJobs";
import CatalogPage from "./pages/CatalogPage";
import JobsPage from "./pages/JobsPage";
import LoginPage from "./pages/LoginPage";

const ItemPage = lazy(() => import("./pages/ItemPage"));
const JobPage = lazy(() => import("./pages/JobPage"));
const ApprovalsPage = lazy(() => import("./pages/ApprovalsPage"));
const ProfilePage = lazy(() => import("./pages/ProfilePage"));
const AdminLayout = lazy(() => import("./pages/admin/AdminLayout"));
const DashboardPage = lazy(() => import("./pages/admin/DashboardPage"));
const JobsMonitorPage = lazy(() => import("./pages/admin/JobsMonitorPage"));
const AuditPage = lazy(() => import("./pages/admin/AuditPage"));
const UsersPage = lazy(() => import("./pages/admin/UsersPage"));
const SecretsPage = lazy(() => import("./pages/admin/SecretsPage"));
const SchedulesPage = lazy(() => import("./pages/admin/SchedulesPage"));
const SystemPage = lazy(() => import("./pages/admin/SystemPage"));
const CatalogAdminPage = lazy(() => import("./pages/admin/CatalogAdminPage"));
const CatalogItemAdminPage = lazy(() => import("./pages/admin/CatalogItemAdminPage"));
const CatalogReviewPage = lazy(() => import("./pages/admin/CatalogReviewPage"));
const StoragePage = lazy(() => import("./pages/admin/StoragePage"));
const AnalyticsPage = lazy(() => import("./pages/admin/AnalyticsPage"));
const SourcesPage = lazy(() => import("./pages/admin/SourcesPage"));

function onUnauthorized(error: unknown) {
  // A session that expired or was revoked: forget who we were; RequireAuth then redirects to the login page.
  if (error instanceof ApiError && error.status === 401) queryClient.setQueryData(authKeys.me(), null);
}

const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError: onUnauthorized }),
  mutationCache: new MutationCache({ onError: onUnauthorized }),
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});

function Authenticated() {
  return (
    <RequireAuth>
      <LiveJobsProvider>
        <Suspense fallback={<Spinner />}>
          <Outlet />
        </Suspense>
      </LiveJobsProvider>
    </RequireAuth>
  );
}

/** A fresh job page per job: moving from a job to its retry must not carry the first one's state over. */
function JobRoute() {
  const { jobId } = useParams();
  return <JobPage key={jobId} />;
}

function NotFound() {
  return (
    <ProblemPage title="Page not found">
      <p>There is nothing at this address.</p>
      <Link to="/catalog" className="link mt-3 inline-block">
        Go to the catalog
      </Link>
    </ProblemPage>
  );
}

const router = createBrowserRouter([
  { path: "/login", element: <LoginPage /> },
  {
    element: <Authenticated />,
    children: [
      {
        element: <Layout />,
        children: [
          { index: true, element: <Navigate to="/catalog" replace /> },
          { path: "catalog", element: <CatalogPage /> },
          { path: "catalog/:itemId", element: <ItemPage /> },
          { path: "catalog/:itemId/:version", element: <ItemPage /> },
          { path: "jobs", element: <JobsPage /> },
          { path: "jobs/:jobId", element: <JobRoute /> },
          { path: "approvals", element: <ApprovalsPage /> },
          { path: "profile", element: <ProfilePage /> },
          {
            path: "admin",
            element: <AdminLayout />,
            children: [
              { index: true, element: <DashboardPage /> },
              { path: "jobs", element: <JobsMonitorPage /> },
              { path: "catalog", element: <CatalogAdminPage /> },
              { path: "catalog/:itemId", element: <CatalogItemAdminPage /> },
              { path: "catalog/:itemId/versions/:version/review", element: <CatalogReviewPage /> },
              { path: "storage", element: <StoragePage /> },
              { path: "analytics", element: <AnalyticsPage /> },
              { path: "audit", element: <AuditPage /> },
              { path: "users", element: <UsersPage /> },
              { path: "secrets", element: <SecretsPage /> },
              { path: "sources", element: <SourcesPage /> },
              { path: "schedules", element: <SchedulesPage /> },
              { path: "system", element: <SystemPage /> },
            ],
          },
          { path: "*", element: <NotFound /> },
        ],
      },
    ],
  },
]);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ErrorBoundary>
      <QueryClientProvider client={queryClient}>
        <ToastProvider>
          <ConfirmProvider>
            <RouterProvider router={router} />
          </ConfirmProvider>
        </ToastProvider>
      </QueryClientProvider>
    </ErrorBoundary>
  </StrictMode>,
);
