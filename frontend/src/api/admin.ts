/**
 * The admin router (`/api/admin`): dashboard statistics, the system status and the nodes' health, and an
 * operator's actions on any job. Every admin-area query key starts with `adminKeys.all`, so a change that may
 * show anywhere in the admin area (a user's role) can mark the whole area stale at once.
 */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap, type Job, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

export const adminKeys = {
  all: ["admin"] as const,
  stats: () => [...adminKeys.all, "stats"] as const,
  system: () => [...adminKeys.all, "system"] as const,
  health: () => [...adminKeys.all, "health"] as const,
};

/** How often the system page's figures are fetched again. */
export const SYSTEM_REFRESH_MS = 10_000;

/** The dashboard's counters, charts and tables (also refetched by the dashboard when jobs change). */
export function useStats() {
  return useQuery({
    queryKey: adminKeys.stats(),
    queryFn: () => unwrap(api.GET("/api/admin/stats")),
    refetchInterval: 15_000,
  });
}

/** The portal's own status (admin): version, executor, database, storage, process, HTTP and jobs. */
export function useSystemStatus() {
  return useQuery({
    queryKey: adminKeys.system(),
    queryFn: () => unwrap(api.GET("/api/admin/system")),
    refetchInterval: SYSTEM_REFRESH_MS,
    staleTime: 0,
  });
}

/** The readiness checks, and every API node and worker with its heartbeat, jobs and job isolation. */
export function useHealthDetailed() {
  return useQuery({
    queryKey: adminKeys.health(),
    queryFn: () => unwrap(api.GET("/api/admin/health/detailed")),
    refetchInterval: SYSTEM_REFRESH_MS,
    staleTime: 0,
  });
}

export type JobAction = "retry" | "cancel" | "run";

/** An operator's action on one job; `run` starts it now (a queued job jumps the queue). Nothing is invalidated:
 * the job's new state arrives over the WebSocket like any other change. */
export function useAdminJobAction(callbacks?: MutationCallbacks<Job, { job: Job; action: JobAction }>) {
  return useApiMutation(
    {
      mutationFn: ({ job, action }: { job: Job; action: JobAction }) => {
        const path = { params: { path: { job_id: job.id } } };
        if (action === "retry") return unwrap(api.POST("/api/admin/jobs/{job_id}/retry", path));
        if (action === "cancel") return unwrap(api.POST("/api/admin/jobs/{job_id}/cancel", path));
        return unwrap(api.POST("/api/admin/jobs/{job_id}/run", path));
      },
    },
    callbacks,
  );
}

/** One action on many jobs in one call: each job is checked on its own and reported. */
export function useBulkJobAction(callbacks?: MutationCallbacks<Schemas["BulkResponse"], { action: JobAction; ids: number[] }>) {
  return useApiMutation(
    { mutationFn: (body: { action: JobAction; ids: number[] }) => unwrap(api.POST("/api/admin/jobs/bulk", { body })) },
    callbacks,
  );
}
