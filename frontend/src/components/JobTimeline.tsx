/**
 * A job's timeline: every event with its time, how long until the next one, and who caused it. The job's detail
 * holds the newest events; the earlier ones are fetched a page at a time on request (`/api/jobs/{id}/events`).
 */
import { useState } from "react";
import { api, unwrap, type JobDetail, type Schemas } from "../api/client";
import { formatDuration } from "./ui";

type JobEvent = Schemas["JobEventOut"];

const PAGE = 200;

/** The events before `firstShown`, oldest first, following the pages. */
async function earlierEvents(jobId: number, firstShown: number): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await unwrap(api.GET("/api/jobs/{job_id}/events", { params: { path: { job_id: jobId }, query: { after, limit: PAGE } } }));
    events.push(...page.items.filter((e) => e.id < firstShown));
    const last = page.items.at(-1)?.id;
    if (page.next_after == null || last == null || last >= firstShown) return events;
    after = page.next_after;
  }
}

export function Timeline({ job }: { job: JobDetail }) {
  const [earlier, setEarlier] = useState<{ jobId: number; events: JobEvent[] } | null>(null);
  const [loading, setLoading] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const shownEarlier = earlier?.jobId === job.id ? earlier.events : [];
  const firstShown = job.events[0]?.id ?? Number.MAX_SAFE_INTEGER;
  const events = [...shownEarlier.filter((e) => e.id < firstShown), ...job.events];
  const hidden = Math.max(0, job.events_total - events.length);
  const load = () => {
    setLoading(true);
    setFailed(null);
    earlierEvents(job.id, firstShown)
      .then((found) => setEarlier({ jobId: job.id, events: found }))
      .catch((error: unknown) => setFailed(error instanceof Error ? error.message : String(error)))
      .finally(() => setLoading(false));
  };
  return (
    <section aria-labelledby="timeline-title" className="card p-4">
      <h2 id="timeline-title" className="mb-3 font-semibold">
        Timeline
      </h2>
      {hidden > 0 && (
        <p className="mb-2 text-sm">
          <button type="button" className="link" onClick={load} disabled={loading}>
            {loading ? "Loading…" : `Show the ${hidden} earlier ${hidden === 1 ? "event" : "events"}`}
          </button>
          {failed && <span className="ml-2 text-red-700 dark:text-red-400">They could not be loaded: {failed}</span>}
        </p>
      )}
      <ol className="space-y-2 border-l-2 border-stone-200 pl-4 text-sm dark:border-stone-700">
        {events.map((event, index) => {
          const next = events[index + 1];
          const took = next ? new Date(next.at).getTime() - new Date(event.at).getTime() : null;
          return (
            <li key={event.id} className="relative">
              <span className="absolute -left-[1.4rem] top-1.5 h-2.5 w-2.5 rounded-full bg-accent-600" aria-hidden />
              <div className="flex flex-wrap items-baseline gap-x-2">
                <span className="font-medium">
                  {event.to_state ? `${event.from_state ? `${event.from_state} → ` : ""}${event.to_state}` : event.kind.replace("_", " ")}
                </span>
                {event.progress != null && <span className="muted">{event.progress}%</span>}
                <span className="text-xs muted">
                  <time dateTime={event.at}>{new Date(event.at).toLocaleTimeString()}</time>
                  {took != null && ` · ${formatDuration(took)}`}
                  {event.actor && ` · ${event.actor}`}
                </span>
              </div>
              {event.message && <p className="muted">{event.message}</p>}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
