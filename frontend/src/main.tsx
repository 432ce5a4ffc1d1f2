/** The app: routes, the query client (a 401 anywhere sends the user to the login page), toasts and live updates. */
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, StrictMode, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserRouter, Link, Navigate, Outlet, RouterProvider, useParams } from "react-router";
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

function onUnauthorized(error: unknown) {
  // A session that expired or was revoked: forget who we were; RequireAuth then redirects to the login page.
  if (error instanceof ApiError && error.status === 401) queryClient.setQueryData(["me"], null);
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
