/**
 * Jobs (`/api/jobs`): the list, one job with its timeline and logs, the approvals waiting for the user, and
 * launching, retrying, cancelling, approving and rejecting. Job lists and details are also patched live from the
 * WebSocket (lib/liveJobs.tsx), which finds them by these keys.
 */
import { keepPreviousData, useQuery, type QueryKey } from "@tanstack/react-query";
import { api, unwrap, type Job, type JobDetail, type Schemas } from "./client";
import { useApiMutation, type MutationCallbacks } from "./mutations";

/** A job list's parameters, as the jobs table keeps them in the URL (empty strings: no filter). */
export interface JobListParams {
  state: string;
  /** One job kind or several, comma-separated (`JOB_KINDS`); empty for every kind. */
  kind: string;
  item_id: string;
  q: string;
  page: number;
  page_size: number;
  sort: string;
}

type JobEvent = Schemas["JobEventOut"];
type JobCreated = Schemas["JobCreated"];
export type Decision = "approve" | "reject";

export const jobKeys = {
  all: ["jobs"] as const,
  lists: () => [...jobKeys.all, "list"] as const,
  list: (params: JobListParams) => [...jobKeys.lists(), params] as const,
  details: () => [...jobKeys.all, "detail"] as const,
  detail: (id: number) => [...jobKeys.details(), id] as const,
  /** The whole timeline, fetched again whenever the job's count of events grows. */
  timeline: (id: number, eventsTotal: number) => [...jobKeys.detail(id), "events", eventsTotal] as const,
  approvals: () => [...jobKeys.all, "approvals"] as const,
};

function isListParams(value: unknown): value is JobListParams {
  if (typeof value !== "object" || value === null) return false;
  const params: Partial<Record<keyof JobListParams, unknown>> = value;
  return (
    typeof params.state === "string" &&
    typeof params.kind === "string" &&
    typeof params.item_id === "string" &&
    typeof params.q === "string" &&
    typeof params.page === "number" &&
    typeof params.page_size === "number" &&
    typeof params.sort === "string"
  );
}

/** The parameters in a job list's query key (`jobKeys.list`), or undefined for any other key. */
export function listParamsOf(queryKey: QueryKey): JobListParams | undefined {
  const [root, kind, params] = queryKey;
  return root === "jobs" && kind === "list" && isListParams(params) ? params : undefined;
}

/** The job id in a job's query key (`jobKeys.detail`, not its timeline), or undefined for any other key. */
export function detailIdOf(queryKey: QueryKey): number | undefined {
  const [root, kind, id] = queryKey;
  return root === "jobs" && kind === "detail" && queryKey.length === 3 && typeof id === "number" ? id : undefined;
}

/** A page of the jobs the user may see; the previous page stays shown while the next one loads. */
export function useJobs(params: JobListParams) {
  return useQuery({
    queryKey: jobKeys.list(params),
    queryFn: () =>
      unwrap(
        api.GET("/api/jobs", {
          params: {
            query: {
              state: params.state || undefined,
              kind: params.kind || undefined,
              item_id: params.item_id || undefined,
              q: params.q || undefined,
              page: params.page,
              page_size: params.page_size,
              sort: params.sort,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

/** One job with its inputs, result, approval and newest events. */
export function useJob(id: number, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: jobKeys.detail(id),
    queryFn: () => unwrap(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: id } } })),
    enabled,
  });
}

const EVENTS_PAGE = 200;

/** The whole timeline, oldest first, following the pages (it is bounded: transitions and sampled progress). */
async function allEvents(jobId: number): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await unwrap(
      api.GET("/api/jobs/{job_id}/events", { params: { path: { job_id: jobId }, query: { after, limit: EVENTS_PAGE } } }),
    );
    events.push(...page.items);
    if (page.next_after == null) return events;
    after = page.next_after;
  }
}

/** Every event of a job's timeline, once `enabled` (the detail holds only the newest ones). */
export function useJobTimeline(job: JobDetail, enabled: boolean) {
  return useQuery({
    queryKey: jobKeys.timeline(job.id, job.events_total),
    queryFn: () => allEvents(job.id),
    enabled,
    placeholderData: keepPreviousData,
  });
}

/** A page of a job's stored log lines after the line `after` (`next_after` is null on the last page). */
export function fetchJobLogs(jobId: number, after: number, limit: number) {
  return unwrap(api.GET("/api/jobs/{job_id}/logs", { params: { path: { job_id: jobId }, query: { after, limit } } }));
}

/** The jobs waiting for the user's approval (lib/liveJobs.tsx refetches them as jobs change). */
export function useApprovals() {
  return useQuery({
    queryKey: jobKeys.approvals(),
    queryFn: () => unwrap(api.GET("/api/jobs/approvals")),
    staleTime: 5_000,
  });
}

/** Launch a job of a catalog item version with these inputs (the server checks them against its schema). */
export function useLaunchJob(callbacks?: MutationCallbacks<JobCreated, Schemas["JobCreate"]>) {
  return useApiMutation({ mutationFn: (body: Schemas["JobCreate"]) => unwrap(api.POST("/api/jobs", { body })) }, callbacks);
}

/** Retry a failed or cancelled job as a new one (the old one's page then links to it). */
export function useRetryJob(callbacks?: MutationCallbacks<JobCreated, number>) {
  return useApiMutation(
    {
      mutationFn: (jobId: number) => unwrap(api.POST("/api/jobs/{job_id}/retry", { params: { path: { job_id: jobId } } })),
      invalidates: (_, jobId) => [jobKeys.detail(jobId)],
    },
    callbacks,
  );
}

/** Ask for a job to be cancelled (its new state arrives over the WebSocket). */
export function useCancelJob(callbacks?: MutationCallbacks<Job, number>) {
  return useApiMutation(
    { mutationFn: (jobId: number) => unwrap(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } })) },
    callbacks,
  );
}

export interface DecisionRequest {
  jobId: number;
  decision: Decision;
  comment: string;
}

/** Approve or reject a job that waits for the user's approval. */
export function useDecideJob(callbacks?: MutationCallbacks<Job, DecisionRequest>) {
  return useApiMutation(
    {
      mutationFn: ({ jobId, decision, comment }: DecisionRequest) => {
        const request = { params: { path: { job_id: jobId } }, body: { comment } };
        return unwrap(
          decision === "approve" ? api.POST("/api/jobs/{job_id}/approve", request) : api.POST("/api/jobs/{job_id}/reject", request),
        );
      },
      invalidates: (_, { jobId }) => [jobKeys.approvals(), jobKeys.detail(jobId)],
    },
    callbacks,
  );
}
