/** A job's timeline: every event with its time, how long until the next one, and who caused it. */
import type { JobDetail } from "../api/client";
import { formatDuration } from "./ui";

export function Timeline({ job }: { job: JobDetail }) {
  return (
    <section aria-labelledby="timeline-title" className="card p-4">
      <h2 id="timeline-title" className="mb-3 font-semibold">
        Timeline
      </h2>
      <ol className="space-y-2 border-l-2 border-stone-200 pl-4 text-sm dark:border-stone-700">
        {job.events.map((event, index) => {
          const next = job.events[index + 1];
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
