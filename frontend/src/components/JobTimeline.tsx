/**
 * A job's timeline: every event with its time, how long until the next one, and who caused it. The job's detail
 * holds the newest events; the earlier ones are fetched a page at a time on request (`/api/jobs/{id}/events`).
 */
import { useState } from "react";
import type { JobDetail, Schemas } from "../api/client";
import { useJobTimeline } from "../api/jobs";
import { formatDuration, stateLabel } from "./ui";

type JobEvent = Schemas["JobEventOut"];

/** The fetched timeline with any newer events of the detail after it (by id, none twice). */
function mergeNewest(fetched: JobEvent[], newest: JobEvent[]): JobEvent[] {
  const last = fetched.at(-1)?.id ?? 0;
  return [...fetched, ...newest.filter((e) => e.id > last)];
}

export function Timeline({ job }: { job: JobDetail }) {
  const [expanded, setExpanded] = useState<number | null>(null);
  // Fetched again whenever the timeline grows, so nothing between the pages and the newest events goes missing.
  const full = useJobTimeline(job, expanded === job.id);
  const events = expanded === job.id && full.data ? mergeNewest(full.data, job.events) : job.events;
  const hidden = Math.max(0, job.events_total - events.length);
  return (
    <section aria-labelledby="timeline-title" className="card p-4">
      <h2 id="timeline-title" className="mb-3 font-semibold">
        Timeline
      </h2>
      {hidden > 0 && (
        <p className="mb-2 text-sm">
          <button type="button" className="link" onClick={() => setExpanded(job.id)} disabled={full.isFetching}>
            {full.isFetching ? "Loading…" : `Show the ${hidden} earlier ${hidden === 1 ? "event" : "events"}`}
          </button>
          {full.isError && <span className="ml-2 text-red-700 dark:text-red-400">They could not be loaded: {full.error.message}</span>}
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
                  {event.to_state ? `${event.from_state ? `${stateLabel(event.from_state)} → ` : ""}${stateLabel(event.to_state)}` : event.kind.replace("_", " ")}
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
