/**
 * One job's live page data: its log (fetched from `/api/jobs/{id}/logs` and joined with what `/ws/jobs/{id}`
 * streams) and its detail in the cache, patched by each newer `job.updated` and refetched when its state changes.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { JobDetail } from "../api/client";
import { fetchJobLogs, jobKeys } from "../api/jobs";
import { LogBuffer, type StreamLine } from "./jobLogs";
import { LiveSocket, RevTracker, socketUrl } from "./ws";

const LOG_LIMIT = 5000;
const LOG_PAGE = 1000;
/** While a job runs, its timeline (progress steps) is refetched at most this often. */
const DETAIL_REFRESH_MS = 1000;

/**
 * The job's log and live updates for as long as the page shows it: one buffer and one socket per job, whether
 * it runs or has finished (a finished job's socket is quiet). Every open fetches the lines the database has
 * beyond those already held, and the job itself, so nothing that happened before the subscription is missed.
 * Nothing opens until `enabled` (the job has loaded: it exists and the user may see it).
 */
export function useJobStream(jobId: number, enabled: boolean) {
  const client = useQueryClient();
  const [lines, setLines] = useState<StreamLine[]>([]);
  const [dropped, setDropped] = useState(0);

  useEffect(() => {
    if (!enabled) return; // a job that is missing or not the user's to see: no socket to be refused
    const buffer = new LogBuffer(LOG_LIMIT);
    const revs = new RevTracker();
    let stopped = false;
    let refresh: ReturnType<typeof setTimeout> | null = null;
    let frame: number | null = null;
    // Lines can arrive hundreds a second: render them at most once a frame.
    const publish = () => {
      frame ??= requestAnimationFrame(() => {
        frame = null;
        setLines(buffer.snapshot());
        setDropped(buffer.dropped);
      });
    };
    const refetchDetail = (soon: boolean) => {
      if (soon) {
        if (refresh) clearTimeout(refresh);
        refresh = null;
        void client.invalidateQueries({ queryKey: jobKeys.detail(jobId) });
      } else {
        refresh ??= setTimeout(() => {
          refresh = null;
          void client.invalidateQueries({ queryKey: jobKeys.detail(jobId) });
        }, DETAIL_REFRESH_MS);
      }
    };
    // REST pages are fetched one run at a time, each from where the last ended; streamed lines may overtake them.
    let fetchedThrough = 0;
    let fetching: Promise<void> = Promise.resolve();
    const fetchLogs = () => {
      fetching = fetching
        .then(async () => {
          for (;;) {
            const page = await fetchJobLogs(jobId, fetchedThrough, LOG_PAGE);
            if (stopped) return;
            if (buffer.add(page.items)) publish();
            fetchedThrough = page.items.at(-1)?.id ?? fetchedThrough;
            if (page.next_after == null) return;
          }
        })
        .catch(() => undefined); // the next open or reload fetches again
    };
    const live = new LiveSocket({
      url: socketUrl(`/ws/jobs/${jobId}`),
      onOpen: () => {
        refetchDetail(true);
        fetchLogs();
      },
      onMessage: (message) => {
        if (message.type === "job.log") {
          if (buffer.add(message.lines)) publish();
        } else if (message.type === "job.updated" && revs.accept(message.job.id, message.rev)) {
          const { job } = message;
          const previous = client.getQueryData<JobDetail>(jobKeys.detail(jobId));
          client.setQueryData<JobDetail>(jobKeys.detail(jobId), (detail) => (detail && job.rev > detail.rev ? { ...detail, ...job } : detail));
          refetchDetail(!previous || previous.state !== job.state);
        }
      },
    });
    live.start();
    return () => {
      stopped = true;
      live.stop();
      if (refresh) clearTimeout(refresh);
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [jobId, client, enabled]);

  return { lines, dropped };
}
