/**
 * One `/ws/jobs` connection for the whole app. Updates are batched (one cache write per 100 ms, however many
 * arrive) and patched into the TanStack Query cache: rows change in place, no page is refetched. After a
 * reconnect every job query is refetched, since updates sent while offline were missed.
 */
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import type { Job, JobDetail, JobPage } from "../api/client";
import { LiveSocket, RevTracker, socketUrl, type ConnectionStatus } from "./ws";

const FLUSH_MS = 100;

export interface JobListParams {
  state: string;
  item_id: string;
  q: string;
  page: number;
  page_size: number;
  sort: string;
}

/** Whether a pushed job belongs at the top of a list shown with `params` (newest first, first page, matching). */
export function belongsOnTop(job: Job, params: JobListParams): boolean {
  if (params.page !== 1 || params.sort !== "-id" || params.q) return false;
  if (params.state && !params.state.split(",").includes(job.state)) return false;
  return !params.item_id || params.item_id === job.item_id;
}

/** A list page with the pushed jobs applied: known rows replaced when newer, new matching jobs prepended. */
export function applyToPage(page: JobPage, params: JobListParams, jobs: Map<number, Job>): JobPage {
  let changed = false;
  const seen = new Set<number>();
  const items = page.items.map((row) => {
    seen.add(row.id);
    const pushed = jobs.get(row.id);
    if (pushed && pushed.rev > row.rev) {
      changed = true;
      return pushed;
    }
    return row;
  });
  const fresh = [...jobs.values()]
    .filter((job) => !seen.has(job.id) && belongsOnTop(job, params) && job.id > (items[0]?.id ?? 0))
    .sort((a, b) => b.id - a.id);
  if (fresh.length) {
    changed = true;
    items.unshift(...fresh);
    items.length = Math.min(items.length, page.page_size);
  }
  return changed ? { ...page, items, total: page.total + fresh.length } : page;
}

function flush(client: QueryClient, pending: Map<number, Job>): void {
  const jobs = new Map(pending);
  pending.clear();
  for (const query of client.getQueryCache().findAll({ queryKey: ["jobs"] })) {
    const params = query.queryKey[1] as JobListParams | undefined;
    const data = query.state.data as JobPage | undefined;
    if (!params || !data) continue;
    const next = applyToPage(data, params, jobs);
    if (next !== data) client.setQueryData(query.queryKey, next);
  }
  for (const job of jobs.values()) {
    const detail = client.getQueryData<JobDetail>(["job", job.id]);
    if (!detail || job.rev <= detail.rev) continue;
    client.setQueryData<JobDetail>(["job", job.id], { ...detail, ...job });
    // A new state brings what an update does not carry (result, error, timeline): fetch the whole job.
    if (job.state !== detail.state) void client.invalidateQueries({ queryKey: ["job", job.id] });
  }
}

const StatusContext = createContext<ConnectionStatus>("connecting");

export function LiveJobsProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [status, setStatus] = useState<ConnectionStatus>("connecting");

  useEffect(() => {
    const revs = new RevTracker();
    const pending = new Map<number, Job>();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const live = new LiveSocket({
      url: socketUrl("/ws/jobs"),
      onStatus: setStatus,
      onOpen: (reconnected) => {
        if (reconnected) void client.invalidateQueries({ predicate: (q) => ["jobs", "job"].includes(String(q.queryKey[0])) });
      },
      onMessage: (message) => {
        const m = message as { type?: string; job?: Job; rev?: number };
        if (m.type !== "job.updated" || !m.job) return;
        if (!revs.accept(m.job.id, m.rev ?? m.job.rev)) return;
        pending.set(m.job.id, m.job);
        timer ??= setTimeout(() => {
          timer = null;
          flush(client, pending);
        }, FLUSH_MS);
      },
    });
    live.start();
    return () => {
      live.stop();
      if (timer) clearTimeout(timer);
    };
  }, [client]);

  return <StatusContext.Provider value={status}>{children}</StatusContext.Provider>;
}

/** The state of the app's live connection, for the indicator in the header. */
export function useConnectionStatus(): ConnectionStatus {
  return useContext(StatusContext);
}
