/**
 * A job's log lines: what `/api/jobs/{id}/logs` holds, joined with what `/ws/jobs/{id}` streams, by line id, so
 * nothing is shown twice or out of order, whichever arrives first. Only the newest `limit` lines are kept.
 */
import type { StreamedLogLine } from "../api/messages";

/** A line as streamed (`job.log`); a line fetched from `/logs` is one too, with its time. */
export type StreamLine = StreamedLogLine;

export class LogBuffer {
  private lines: StreamLine[] = [];
  private readonly held = new Set<number>();
  dropped = 0;

  constructor(private readonly limit: number) {}

  /** Add lines not yet held (in any order); returns whether anything was added. */
  add(incoming: StreamLine[]): boolean {
    const fresh = incoming.filter((l) => !this.held.has(l.id));
    if (!fresh.length) return false;
    const newest = this.lines[this.lines.length - 1]?.id ?? 0;
    const next = this.lines.concat(fresh);
    if (fresh.some((l) => l.id < newest) || fresh.some((l, i) => i > 0 && l.id < fresh[i - 1]!.id)) {
      next.sort((a, b) => a.id - b.id);
    }
    fresh.forEach((l) => this.held.add(l.id));
    const excess = next.length - this.limit;
    if (excess > 0) {
      next.splice(0, excess).forEach((l) => this.held.delete(l.id));
      this.dropped += excess;
    }
    this.lines = next;
    return true;
  }

  snapshot(): StreamLine[] {
    return this.lines;
  }
}
