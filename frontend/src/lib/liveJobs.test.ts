import { describe, expect, it } from "vitest";
import type { Job, JobPage } from "../api/client";
import type { JobListParams } from "../api/jobs";
import { applyToPage } from "./liveJobs";

function job(id: number, rev: number, extra: Partial<Job> = {}): Job {
  return {
    id, rev, kind: "catalog_execution", item_id: "noop", item_version: "1.0.0", state: "QUEUED", progress: 0, message: "",
    created_by: 1, created_by_name: "alice", created_at: "2026-01-01T00:00:00Z", queued_at: null, started_at: null,
    finished_at: null, updated_at: "2026-01-01T00:00:00Z", attempt: 1, retry_of: null, cancel_requested: false,
    worker: null, queue: "default", priority: 0, ...extra,
  };
}

const params: JobListParams = { state: "", kind: "", item_id: "", q: "", page: 1, page_size: 3, sort: "-id" };

describe("applyToPage", () => {
  it("replaces rows only with newer revs and keeps the same object when nothing changed", () => {
    const page: JobPage = { items: [job(2, 5), job(1, 3)], total: 2, page: 1, page_size: 3 };
    const stale = applyToPage(page, params, new Map([[2, job(2, 4, { state: "RUNNING" })]]));
    expect(stale).toBe(page);
    const fresh = applyToPage(page, params, new Map([[2, job(2, 6, { state: "RUNNING" })]]));
    expect(fresh.items[0]!.state).toBe("RUNNING");
    expect(fresh.total).toBe(2);
  });

  it("prepends new matching jobs on the first page and keeps the page size", () => {
    const page: JobPage = { items: [job(3, 1), job(2, 1), job(1, 1)], total: 3, page: 1, page_size: 3 };
    const next = applyToPage(page, params, new Map([[4, job(4, 1)]]));
    expect(next.items.map((j) => j.id)).toEqual([4, 3, 2]);
    expect(next.total).toBe(4);
  });

  it("drops rows that left the list's filters", () => {
    const filtered = { ...params, state: "RUNNING" };
    const page: JobPage = { items: [job(2, 3, { state: "RUNNING" }), job(1, 3, { state: "RUNNING" })], total: 2, page: 1, page_size: 3 };
    const next = applyToPage(page, filtered, new Map([[2, job(2, 4, { state: "SUCCEEDED" })]]));
    expect(next.items.map((j) => j.id)).toEqual([1]);
    expect(next.total).toBe(1);
  });

  it("does not prepend to other pages, other sorts or lists filtered to another state", () => {
    const page: JobPage = { items: [job(3, 1)], total: 1, page: 1, page_size: 3 };
    const pushed = new Map([[4, job(4, 1)]]);
    expect(applyToPage(page, { ...params, page: 2 }, pushed)).toBe(page);
    expect(applyToPage(page, { ...params, sort: "id" }, pushed)).toBe(page);
    expect(applyToPage(page, { ...params, state: "FAILED" }, pushed)).toBe(page);
    expect(applyToPage(page, { ...params, state: "FAILED,QUEUED" }, pushed).items[0]!.id).toBe(4);
  });

  it("marks the row a pushed job retries, and keeps the mark through later updates", () => {
    const page: JobPage = { items: [job(3, 2, { state: "FAILED" })], total: 1, page: 1, page_size: 3 };
    const retried = applyToPage(page, { ...params, page: 2 }, new Map([[7, job(7, 1, { retry_of: 3 })]]));
    expect(retried.items[0]!.retried_as).toBe(7);
    const updated = applyToPage(retried, params, new Map([[3, job(3, 3, { state: "FAILED", retried_as: null })]]));
    expect(updated.items.find((j) => j.id === 3)!.retried_as).toBe(7);
    expect(applyToPage(retried, { ...params, page: 2 }, new Map())).toBe(retried);
  });

  it("prepends a new job only to the lists of its kind", () => {
    const page: JobPage = { items: [job(3, 1)], total: 1, page: 1, page_size: 3 };
    const pushed = new Map([[4, job(4, 1, { kind: "catalog_dry_run" })]]);
    expect(applyToPage(page, { ...params, kind: "catalog_execution" }, pushed)).toBe(page);
    expect(applyToPage(page, { ...params, kind: "catalog_test,catalog_dry_run" }, pushed).items[0]!.id).toBe(4);
  });
});
