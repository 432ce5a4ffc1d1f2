/**
 * One `/ws/jobs` connection for the whole app. Updates are batched (one cache write per 100 ms, however many
 * arrive) and patched into the TanStack Query cache: rows change in place, no page is refetched. After a
 * reconnect every job query is refetched, since updates sent while offline were missed.
 */
import { useQueryClient, type QueryClient, type QueryKey } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { authKeys } from "../api/auth";
import type { Job, JobDetail, JobPage } from "../api/client";
import { detailIdOf, jobKeys, listParamsOf, useApprovals, type JobListParams } from "../api/jobs";
import { sourcesKeys } from "../api/sources";
import { LiveSocket, RevTracker, socketUrl, type ConnectionStatus } from "./ws";

const FLUSH_MS = 100;

/** Whether a pushed job belongs at the top of a list shown with `params` (newest first, first page, matching). */
export function belongsOnTop(job: Job, params: JobListParams): boolean {
  if (params.page !== 1 || params.sort !== "-id" || params.q) return false;
  return matchesFilters(job, params);
}

/** Whether a job still belongs to a list filtered by state, kind and item (a search is left to the next fetch). */
export function matchesFilters(job: Job, params: JobListParams): boolean {
  if (params.state && !params.state.split(",").includes(job.state)) return false;
  if (params.kind && !params.kind.split(",").includes(job.kind)) return false;
  return !params.item_id || params.item_id === job.item_id;
}

/**
 * A list page with the pushed jobs applied: known rows replaced when newer (and dropped when they left the
 * list's filters), new matching jobs prepended on the first page of the default order, and a row that a pushed
 * job retries marked as retried (updates do not carry `retried_as`: a row keeps the one it has).
 */
export function applyToPage(page: JobPage, params: JobListParams, jobs: Map<number, Job>): JobPage {
  let changed = false;
  let removed = 0;
  const seen = new Set<number>();
  const items: Job[] = [];
  const retriedAs = new Map<number, number>();
  for (const job of jobs.values()) {
    if (job.retry_of != null) retriedAs.set(job.retry_of, Math.max(job.id, retriedAs.get(job.retry_of) ?? 0));
  }
  for (const row of page.items) {
    seen.add(row.id);
    const pushed = jobs.get(row.id);
    const newest = Math.max(retriedAs.get(row.id) ?? 0, pushed?.retried_as ?? 0, row.retried_as ?? 0) || null;
    if (pushed && pushed.rev > row.rev) {
      changed = true;
      if (matchesFilters(pushed, params)) items.push({ ...pushed, retried_as: newest });
      else removed += 1;
    } else if (newest !== (row.retried_as ?? null)) {
      changed = true;
      items.push({ ...row, retried_as: newest });
    } else {
      items.push(row);
    }
  }
  const fresh = [...jobs.values()]
    .filter((job) => !seen.has(job.id) && belongsOnTop(job, params) && job.id > (items[0]?.id ?? 0))
    .sort((a, b) => b.id - a.id);
  if (fresh.length) {
    changed = true;
    items.unshift(...fresh);
    items.length = Math.min(items.length, page.page_size);
  }
  return changed ? { ...page, items, total: Math.max(0, page.total + fresh.length - removed) } : page;
}

function applyToList(client: QueryClient, queryKey: QueryKey, jobs: Map<number, Job>): void {
  const params = listParamsOf(queryKey);
  const page = client.getQueryData<JobPage>(queryKey);
  if (!params || !page) return;
  const next = applyToPage(page, params, jobs);
  if (next !== page) client.setQueryData(queryKey, next);
}

function applyToDetail(client: QueryClient, job: Job): void {
  const detail = client.getQueryData<JobDetail>(jobKeys.detail(job.id));
  if (!detail || job.rev <= detail.rev) return;
  client.setQueryData<JobDetail>(jobKeys.detail(job.id), { ...detail, ...job, retried_as: job.retried_as ?? detail.retried_as });
  // A new state brings what an update does not carry (result, error, timeline): fetch the whole job.
  if (job.state !== detail.state) void client.invalidateQueries({ queryKey: jobKeys.detail(job.id) });
}

function flush(client: QueryClient, pending: Map<number, Job>): void {
  const jobs = new Map(pending);
  pending.clear();
  for (const query of client.getQueryCache().findAll({ queryKey: jobKeys.lists() })) {
    applyToList(client, query.queryKey, jobs);
  }
  for (const job of jobs.values()) {
    applyToDetail(client, job);
    // A job retried by someone else: its page fetches the list of its retries again, once.
    const original = job.retry_of != null ? client.getQueryData<JobDetail>(jobKeys.detail(job.retry_of)) : undefined;
    if (original && !original.retries.includes(job.id)) void client.invalidateQueries({ queryKey: jobKeys.detail(original.id) });
  }
}

/** The newest update of each job, kept for a while: a fetch that started before it must not undo it. */
class RecentUpdates {
  private readonly jobs = new Map<number, Job>();

  constructor(private readonly limit = 5000) {}

  remember(job: Job): void {
    this.jobs.delete(job.id);
    this.jobs.set(job.id, job);
    if (this.jobs.size > this.limit) this.jobs.delete(this.jobs.keys().next().value as number);
  }

  get all(): Map<number, Job> {
    return this.jobs;
  }

  get(id: number): Job | undefined {
    return this.jobs.get(id);
  }
}

const StatusContext = createContext<ConnectionStatus>("connecting");
const PulseContext = createContext(0);

export function LiveJobsProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [status, setStatus] = useState<ConnectionStatus>("connecting");
  const [pulse, setPulse] = useState(0);

  useEffect(() => {
    const revs = new RevTracker();
    const recent = new RecentUpdates();
    const pending = new Map<number, Job>();
    let timer: ReturnType<typeof setTimeout> | null = null;
    // A list or job fetched from the server may be older than an update already pushed: re-apply the updates.
    const unsubscribe = client.getQueryCache().subscribe((event) => {
      if (event.type !== "updated" || event.action.type !== "success" || event.action.manual) return;
      const { queryKey } = event.query;
      const jobId = detailIdOf(queryKey);
      if (listParamsOf(queryKey)) applyToList(client, queryKey, recent.all);
      else if (jobId !== undefined) {
        const job = recent.get(jobId);
        if (job) applyToDetail(client, job);
      }
    });
    const live = new LiveSocket({
      url: socketUrl("/ws/jobs"),
      onStatus: setStatus,
      onOpen: (reconnected) => {
        if (reconnected) {
          void client.invalidateQueries({ queryKey: jobKeys.lists() });
          void client.invalidateQueries({ queryKey: jobKeys.details() });
        }
      },
      onDenied: () => void client.invalidateQueries({ queryKey: authKeys.me() }),
      onMessage: (message) => {
        if (message.type === "sources.updated") {
          // A source's refresh was asked for or ended (admins only): its status is read again.
          void client.invalidateQueries({ queryKey: sourcesKeys.current() });
          return;
        }
        if (message.type !== "job.updated") return;
        const { job, rev } = message;
        if (!revs.accept(job.id, rev)) return;
        recent.remember(job);
        pending.set(job.id, job);
        timer ??= setTimeout(() => {
          timer = null;
          flush(client, pending);
          setPulse((n) => n + 1);
        }, FLUSH_MS);
      },
    });
    live.start();
    return () => {
      live.stop();
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }, [client]);

  return (
    <StatusContext.Provider value={status}>
      <PulseContext.Provider value={pulse}>{children}</PulseContext.Provider>
    </StatusContext.Provider>
  );
}

/** A number that grows whenever job updates arrived (at most ten times a second): views that summarize jobs
 * (the dashboard) refetch when it changes. */
export function useJobsPulse(): number {
  return useContext(PulseContext);
}

/** Jobs waiting for the user's approval, refetched a second after job updates arrive (they may add or remove
 * some): the nav shows how many, and the approvals page lists them. */
export function useAwaitingApproval() {
  const pulse = useJobsPulse();
  const query = useApprovals();
  const { refetch } = query;
  useEffect(() => {
    const timer = setTimeout(() => void refetch(), 1_000);
    return () => clearTimeout(timer);
  }, [pulse, refetch]);
  return query;
}

/** The state of the app's live connection, for the indicator in the header. */
export function useConnectionStatus(): ConnectionStatus {
  return useContext(StatusContext);
}
