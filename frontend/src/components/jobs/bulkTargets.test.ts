import { describe, expect, it } from "vitest";
import type { Job } from "../../api/client";
import { bulkTargets } from "./JobsMonitorParts";

const job = (id: number, state: Job["state"]) => ({ id, state }) as Job;

describe("bulkTargets", () => {
  const jobs = [job(1, "FAILED"), job(2, "SUCCEEDED"), job(3, "QUEUED"), job(4, "RUNNING")];

  it("keeps the selected jobs of the states an action takes", () => {
    expect(bulkTargets("retry", new Set([1, 2]), jobs)).toEqual([1]);
    expect(bulkTargets("cancel", new Set([1, 2]), jobs)).toEqual([]);
    expect(bulkTargets("cancel", new Set([1, 3, 4]), jobs)).toEqual([3, 4]);
    expect(bulkTargets("run", new Set([3, 4]), jobs)).toEqual([3]);
  });

  it("leaves a selected job that is not on this page to the server", () => {
    expect(bulkTargets("cancel", new Set([2, 99]), jobs)).toEqual([99]);
  });
});
